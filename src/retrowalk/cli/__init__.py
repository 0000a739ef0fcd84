"""The `retrowalk` command line: the parser and dispatch (`command_line`), argument checks
(`arg_types`), failures in words (`failures`), and the commands that run at a terminal (`scan`,
`session start|stop` in `local_session` with its `pain_prompt`, `user` in `user_commands`).

`retrowalk demo` lives in :mod:`retrowalk.demo`, the only product code that imports the simulator.
"""

from retrowalk.cli.command_line import build_parser, main, setup_logging

__all__ = ["build_parser", "main", "setup_logging"]

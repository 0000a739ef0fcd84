"""The `retrowalk` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from retrowalk import __version__
from retrowalk.errors import RetrowalkError

log = logging.getLogger("retrowalk")

DESCRIPTION = """\
Guided backward ("retro") walking sessions on Bluetooth FTMS treadmills.

retrowalk starts the belt slowly, speeds it up only gradually, never lets it run faster than the plan
allows for longer than a short grace period, and stops it when the session's time is up. When in doubt
(lost link, stale data, a treadmill that ignores commands) it stops the belt and says why.
"""

EPILOG = """\
examples:
  retrowalk demo                                   simulated treadmill + broker + service, one session
  retrowalk scan                                   list FTMS treadmills in range with their speed ranges
  retrowalk serve --config retrowalk.toml          run the service (MQTT API for kiosks, Home Assistant)
  retrowalk session start --config home.toml --user me
                                                   one guided session at this terminal, no MQTT
  retrowalk session stop --config home.toml        stop the session started above (belt stops first)
  retrowalk check-config retrowalk.toml            validate a configuration file and say what is wrong

configuration: a TOML file (see docs/configuration.md); any field can be overridden by an environment
variable RETROWALK_<TABLE>__<FIELD>, e.g. RETROWALK_CEILINGS__MAX_SPEED_KMH=2.5.
"""


class _TreadmillField(logging.Filter):
    """Every log line names its treadmill ('-' when it is about none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "treadmill"):
            record.treadmill = "-"
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TreadmillField())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s [%(treadmill)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # bleak and dbus-fast are chatty at INFO about things a person cannot act on.
    for noisy in ("bleak", "dbus_fast", "bleak_retry_connector", "pyftms"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrowalk",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"retrowalk {__version__}")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the service for the configured treadmills",
        description="Connect to every configured treadmill, run sessions that kiosks start over MQTT, "
        "and publish telemetry, events and summaries. SIGINT/SIGTERM stop moving belts, end running "
        "sessions as 'service_stopped' and publish that (5 s at most), then exit. Refuses to start while "
        "another retrowalk uses the same storage file or treadmills.",
    )
    serve.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")

    scan = sub.add_parser(
        "scan",
        help="list FTMS treadmills in range",
        description="Scan for Bluetooth FTMS treadmills, connect to each briefly and print its speed and "
        "incline ranges. Use the address in the [[treadmills]] table of your configuration.",
    )
    scan.add_argument("--seconds", type=float, default=10.0, help="how long to scan (default 10)")
    scan.add_argument("--no-connect", action="store_true", help="only list, do not read the ranges")

    session = sub.add_parser(
        "session",
        help="run or stop one guided session at this terminal (no MQTT)",
        description="Run one guided session on a configured treadmill, showing progress here.",
    )
    ssub = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    start = ssub.add_parser("start", help="start a session and follow it to the end")
    start.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
    start.add_argument("--user", required=True, help="who is walking (history and progression are per user)")
    start.add_argument("--treadmill", help="treadmill id from the configuration (default: the first)")
    start.add_argument("--minutes", type=float, help="ask for a shorter session than the plan's cap")
    start.add_argument("--max-speed", type=float, help="ask for a lower top speed, km/h")
    start.add_argument(
        "--screening",
        metavar="AGE,OA,BALANCE,SURGERY",
        help="screening answers if none are on record, e.g. '52,no,no,no' (otherwise you are asked)",
    )
    stop = ssub.add_parser("stop", help="stop the session started with 'session start' (same config)")
    stop.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument("config", type=Path)

    demo = sub.add_parser(
        "demo",
        help="a guided session on a simulated treadmill, end to end",
        description="Start a simulated treadmill (virtual Bluetooth adapter), an embedded MQTT broker and "
        "the real service, then run one guided beginner session with a live view.",
    )
    demo.add_argument("--speedup", type=float, default=1.0, help="run the clock N times faster")
    demo.add_argument(
        "--quirk", action="append", default=[], help="misbehaving treadmill (see docs/quirks.md)"
    )
    demo.add_argument("--no-broker", action="store_true", help="skip MQTT (service and view only)")
    demo.add_argument("--plain", action="store_true", help="plain progress lines instead of the live view")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or ("WARNING" if args.command in ("demo", "session") else "INFO"))
    try:
        return _dispatch(args)
    except RetrowalkError as err:
        print(f"retrowalk: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: Any) -> int:
    from retrowalk.config import load_config

    if args.command == "check-config":
        settings = load_config(args.config)
        print(f"{args.config}: valid ({len(settings.treadmills)} treadmill(s))")
        return 0
    if args.command == "serve":
        from retrowalk.locks import controller_locks
        from retrowalk.service.app import Service, serve_until_signalled

        settings = load_config(args.config)
        if args.log_level is None:
            logging.getLogger().setLevel(settings.service.log_level)
        # Before anything connects: a second controller must not even touch the treadmills or the broker.
        with controller_locks(settings, settings.treadmills):
            asyncio.run(serve_until_signalled(Service(settings)))
        return 0
    if args.command == "scan":
        return asyncio.run(_scan(args.seconds, not args.no_connect))
    if args.command == "session":
        from retrowalk import local_session

        if args.session_command == "stop":
            return local_session.stop(load_config(args.config))
        return local_session.run(load_config(args.config), args)
    if args.command == "demo":
        from retrowalk import demo

        return demo.run(args)
    raise AssertionError(args.command)


async def _scan(seconds: float, connect: bool) -> int:
    from retrowalk.scan import HEADERS, scan

    print(f"scanning for FTMS treadmills for {seconds:g} s ...", file=sys.stderr)
    results = await scan(seconds, connect=connect)
    if not results:
        print(
            "no FTMS treadmill found: is it switched on, in range, and not connected to another app "
            "(a phone's fitness app holds the only connection on most treadmills)?",
            file=sys.stderr,
        )
        return 1
    rows = [HEADERS, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def send_stop_signal(pid: int) -> None:
    os.kill(pid, signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())

"""Every command's --help is enough on its own: the guides send people to it, so each command says what
it does and each option what it takes."""

from __future__ import annotations

import argparse

from retrowalk.cli import build_parser


def _commands(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _commands(sub, f"{name} {sub_name}")
    return found


COMMANDS = _commands(build_parser(), "retrowalk")


def test_the_walk_reaches_every_command_the_guides_use() -> None:
    names = {name for name, _ in COMMANDS}
    assert {
        "retrowalk scan",
        "retrowalk check-config",
        "retrowalk serve",
        "retrowalk session start",
        "retrowalk session stop",
        "retrowalk user pain",
        "retrowalk user clear",
    } <= names


def test_every_command_says_what_it_does() -> None:
    silent = [name for name, parser in COMMANDS if not (parser.description or "").strip()]
    assert silent == []


def test_every_argument_says_what_it_takes() -> None:
    unexplained = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in COMMANDS
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and not (action.help or "").strip()
    ]
    assert unexplained == []


def test_the_clearance_help_names_the_only_mqtt_topic_that_records_one() -> None:
    """Over MQTT only the staff topic records a clearance; the help must not say any publisher can."""
    clear = dict(COMMANDS)["retrowalk user clear"]
    assert "command/staff" in " ".join((clear.description or "").split())

"""The `retrowalk` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from retrowalk import __version__
from retrowalk.cli import kiosk_command, user_commands
from retrowalk.cli.arg_types import number_between, screening_answers, user_id
from retrowalk.cli.failures import report_failure
from retrowalk.errors import SetupError
from retrowalk.stdout_pipe import quiet_when_reader_leaves, stdout_reader_gone

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "MAX_ASKED_KMH",
    "MAX_SCAN_S",
    "MAX_SESSION_MIN",
    "MIN_ASKED_KMH",
    "MIN_SCAN_S",
    "build_parser",
    "main",
    "send_stop_signal",
    "setup_logging",
]

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
  retrowalk user show --config home.toml --user me
                                                   screening, history, next plan and what it waits for
  retrowalk user pain --config home.toml --user me --when next-morning 2
                                                   report pain (the next session waits for it)
  retrowalk check-config retrowalk.toml            validate a configuration file and say what is wrong
  retrowalk kiosk --config kiosk.toml              the touch-screen pages beside the treadmills

configuration: a TOML file (see docs/configuration.md); any field can be overridden by an environment
variable RETROWALK_<TABLE>__<FIELD>, e.g. RETROWALK_CEILINGS__MAX_SPEED_KMH=2.5.
"""


# The bounds of a start command's plan (retrowalk.mqtt.commands.PlanRequest), as the terminal asks them.
MAX_SESSION_MIN = 30.0
MIN_ASKED_KMH = 0.5
MAX_ASKED_KMH = 3.5
MIN_SCAN_S = 0.5
MAX_SCAN_S = 300.0


class _TreadmillField(logging.Filter):
    """Every log line names its treadmill ('-' when it is about none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "treadmill"):
            record.treadmill = "-"
        return True


class _BluezVersionUnknowable(logging.Filter):
    """bleak learns BlueZ's version by running `bluetoothctl --version` (D-Bus does not tell it) and warns
    on every command when it cannot. Where bluetoothctl is not installed (a container that reaches BlueZ
    over D-Bus, treadsim's virtual adapter) nobody can act on that warning: it becomes a DEBUG line. Where
    bluetoothctl is installed and still gives no version, the warning stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Could not determine BlueZ version" not in record.getMessage() or shutil.which("bluetoothctl"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


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
    bluez_version = logging.getLogger("bleak.backends.bluezdbus.version")
    if not any(isinstance(f, _BluezVersionUnknowable) for f in bluez_version.filters):
        bluez_version.addFilter(_BluezVersionUnknowable())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrowalk",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"retrowalk {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="what to log on stderr (default: WARNING for session, user and demo; for serve the "
        "configuration's [service] log_level; INFO for the rest); DEBUG adds a failure's traceback",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the service for the configured treadmills",
        description="Connect to every configured treadmill, run sessions that kiosks start over MQTT, "
        "and publish telemetry, events and summaries. SIGINT/SIGTERM stop moving belts, end running "
        "sessions as 'service_stopped' and publish that (5 s at most), then exit. Refuses to start while "
        "another retrowalk uses the same storage file ([service] storage, or RETROWALK_SERVICE__STORAGE) "
        "or treadmills (one lock file each in /run/lock, or in the existing directory RETROWALK_LOCK_DIR "
        "names).",
    )
    serve.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")

    scan = sub.add_parser(
        "scan",
        help="list FTMS treadmills in range",
        description="Scan for Bluetooth FTMS treadmills, connect to each briefly and print its speed and "
        "incline ranges. Use the address in the [[treadmills]] table of your configuration.",
    )
    scan.add_argument(
        "--seconds",
        type=number_between(MIN_SCAN_S, MAX_SCAN_S, "seconds"),
        default=10.0,
        help=f"how long to scan, {MIN_SCAN_S:g}-{MAX_SCAN_S:g} seconds (default 10)",
    )
    scan.add_argument(
        "--no-connect",
        action="store_true",
        help="only list, do not connect to read the ranges (they and speed control show '?')",
    )

    session = sub.add_parser(
        "session",
        help="run or stop one guided session at this terminal (no MQTT)",
        description="Run one guided session on a configured treadmill, showing progress here.",
    )
    ssub = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    start = ssub.add_parser(
        "start",
        help="start a session and follow it to the end",
        description="Start a guided session and follow it here. It asks for your knee pain (0-10) before "
        "the session, takes a score typed and Entered during it (above 5 stops the belt), asks again "
        "after it, and then says what the next session will be and what it waits for.",
    )
    start.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
    start.add_argument(
        "--user", type=user_id, required=True, help="who is walking (history and progression are per user)"
    )
    start.add_argument("--treadmill", help="treadmill id from the configuration (default: the first)")
    start.add_argument(
        "--minutes",
        type=number_between(1, MAX_SESSION_MIN, "minutes"),
        help=f"ask for a shorter session than the plan's cap (1-{MAX_SESSION_MIN:g})",
    )
    start.add_argument(
        "--max-speed",
        type=number_between(MIN_ASKED_KMH, MAX_ASKED_KMH, "km/h"),
        help=f"ask for a lower top speed, km/h ({MIN_ASKED_KMH:g}-{MAX_ASKED_KMH:g})",
    )
    start.add_argument(
        "--screening",
        type=screening_answers,
        metavar="AGE,OA,BALANCE,SURGERY",
        help="screening answers, e.g. '52,no,no,no': age; severe knee osteoarthritis or a ligament "
        "injury; balance problems or dizziness; recent knee surgery (otherwise you are asked the first "
        "time); different answers replace the ones on record",
    )
    start.add_argument(
        "--pain-before",
        type=int,
        metavar="SCORE",
        help="knee pain now, 0-10 (otherwise you are asked); the next morning is compared with it",
    )
    stop = ssub.add_parser(
        "stop",
        help="stop the session started with 'session start' (same config)",
        description="Ask the 'session start' running on this configuration to stop the belt and end the "
        "session; it finds that process through a file next to the history file, so with a relative "
        "storage path run it in the directory the session was started in.",
    )
    stop.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")

    user_commands.add_parser(sub)
    kiosk_command.add_parser(sub)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Load the configuration as serve does (strict types, limits and ceilings, distinct "
        "treadmills, the storage directory and TLS files on this machine, TLS on port 8883) and say what "
        "is wrong, one line each; exit 2 if anything is. Connects to nothing (docs/configuration.md).",
    )
    check.add_argument("config", type=Path, help="TOML configuration file")

    demo = sub.add_parser(
        "demo",
        help="a guided session on a simulated treadmill, end to end",
        description="Start a simulated treadmill (virtual Bluetooth adapter), an embedded MQTT broker and "
        "the real service, then run one guided beginner session with a live view. Ctrl-C (or SIGTERM) "
        "stops the belt, shows it at rest in the simulator's record, then exits with 130 (143).",
    )
    demo.add_argument("--speedup", type=float, default=1.0, help="run the clock N times faster")
    demo.add_argument(
        "--quirk", action="append", default=[], help="misbehaving treadmill (see docs/quirks.md)"
    )
    demo.add_argument("--no-broker", action="store_true", help="skip MQTT (service and view only)")
    demo.add_argument("--plain", action="store_true", help="plain progress lines instead of the live view")
    return parser


@quiet_when_reader_leaves
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or ("WARNING" if args.command in ("demo", "session", "user") else "INFO"))
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as err:
        if stdout_reader_gone():
            raise  # quiet_when_reader_leaves ends the command quietly: the reader (`| head`) has left
        return report_failure(err, args.command)
    except Exception as err:  # noqa: BLE001 - every failure ends as one sentence, the traceback at DEBUG
        return report_failure(err, args.command)


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
        from retrowalk.cli import local_session

        if args.session_command == "stop":
            return local_session.stop(load_config(args.config))
        return local_session.run(load_config(args.config), args)
    if args.command == "user":
        return user_commands.run(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "kiosk":
        return kiosk_command.run(args)
    raise AssertionError(args.command)


def _demo(args: Any) -> int:
    try:
        from retrowalk.demo import run
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "rich":
            raise
        raise SetupError(
            "retrowalk demo needs the 'demo' extra, which is not installed: pip install 'retrowalk[demo]' "
            "(scripts/dev demo installs it)"
        ) from None
    return run(args)


async def _scan(seconds: float, connect: bool) -> int:
    from retrowalk.cli.scan import HEADERS, scan

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

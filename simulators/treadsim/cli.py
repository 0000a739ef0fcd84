"""``treadsim``: serve simulated FTMS treadmills on a private bus, and drive them from a tester console.

    treadsim serve --treadmills 2 --quirk 1:ignores-speed   # stdout line 1: DBUS_SYSTEM_BUS_ADDRESS=...
    treadsim console --bus ADDR -t 0 press start            # any action (`treadsim actions` lists them)
    treadsim state --bus ADDR -t 0                          # JSON state
    treadsim record --bus ADDR -t 0 [--json]                # the ground-truth belt record

``--bus`` defaults to $TREADSIM_BUS_ADDRESS, then $DBUS_SYSTEM_BUS_ADDRESS. See docs/simulator.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from retrowalk.stdout_pipe import quiet_when_reader_leaves
from treadsim.bluez.errors import ConsoleCommandError, SimulatorError, UnknownTreadmillError
from treadsim.console import describe_remote, perform_remote
from treadsim.console_actions import ACTIONS
from treadsim.server import DEFAULT_TICK_HZ, Simulator

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "run_console", "serve"]

logger = logging.getLogger("treadsim")

EXIT_OK = 0
EXIT_FAILED = 1  # the simulator failed, or the console refused / the action did not take effect
EXIT_USAGE = 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _add_bus_options(parser: argparse.ArgumentParser, *, treadmill: bool = True) -> None:
    parser.add_argument(
        "--bus",
        default=os.environ.get("TREADSIM_BUS_ADDRESS") or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"),
        help="the address `treadsim serve` printed (default $TREADSIM_BUS_ADDRESS, $DBUS_SYSTEM_BUS_ADDRESS)",
    )
    if treadmill:
        parser.add_argument("-t", "--treadmill", type=int, default=0, help="treadmill index (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="treadsim", description="Simulated FTMS treadmills for testing.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve simulated treadmills until SIGINT/SIGTERM")
    serve.add_argument("--treadmills", type=_positive_int, default=1, help="how many (default 1)")
    serve.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="[INDEX:]NAME",
        help="a quirk for every treadmill (NAME) or for one (INDEX:NAME); repeatable; see `treadsim quirks`",
    )
    serve.add_argument(
        "--notify-hz", type=_positive_float, default=1.0, help="Treadmill Data rate (default 1)"
    )
    serve.add_argument(
        "--accel", type=_positive_float, default=None, help="belt acceleration, km/h per second"
    )
    serve.add_argument("--tick-hz", type=_positive_float, default=DEFAULT_TICK_HZ, help="model update rate")
    serve.add_argument(
        "--speedup", type=_positive_float, default=1.0, help="simulated seconds per real second"
    )
    serve.add_argument("--mtu", type=int, default=247, help="ATT MTU of every link (23-517, default 247)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the random quirks (default 0)")
    serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    console = commands.add_parser("console", help="perform a console action on a running treadsim")
    _add_bus_options(console)
    console.add_argument("action", choices=sorted(ACTIONS), help="see `treadsim actions`")
    console.add_argument("argument", nargs="?", default="", help="the action's argument, if it takes one")

    state = commands.add_parser("state", help="a treadmill's state, as JSON")
    _add_bus_options(state)

    record = commands.add_parser("record", help="a treadmill's ground-truth belt record")
    _add_bus_options(record)
    record.add_argument("--json", action="store_true", help="JSON instead of a table")

    listing = commands.add_parser("list", help="the treadmills a running treadsim serves")
    _add_bus_options(listing, treadmill=False)

    commands.add_parser("actions", help="the console actions")
    commands.add_parser("quirks", help="the quirk profiles")
    return parser


async def serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Simulator(
        args.treadmills,
        quirks=args.quirk,
        notify_hz=args.notify_hz,
        acceleration_kmh_s=args.accel,
        tick_hz=args.tick_hz,
        speedup=args.speedup,
        mtu=args.mtu,
        seed=args.seed,
    ) as sim:
        # The contract with whoever started us: the address is the first stdout line, flushed at once.
        print(f"DBUS_SYSTEM_BUS_ADDRESS={sim.bus_address}", flush=True)
        for slot in sim.treadmills:
            logger.info("serving treadmill %d: %s %s", slot.index, slot.address, slot.options.name)
        clock = sim.clock_task
        assert clock is not None
        stopper = asyncio.create_task(stop.wait(), name="treadsim-wait-for-signal")
        done, _ = await asyncio.wait({stopper, clock}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if clock in done:
            return EXIT_FAILED  # leaving the block raises SimulatorError with the crash, logged by main
        logger.info("signal received, shutting down")
    return EXIT_OK


def _print_record(entries: list[dict[str, Any]]) -> None:
    print(f"{'time':>10} {'speed km/h':>10} {'target':>7} {'rate':>5}  {'state':<8} source")
    for e in entries:
        print(
            f"{e['time']:10.2f} {e['speed_kmh']:10.3f} {e['target_kmh']:7.2f} {e['rate_kmh_s']:5.2f}"
            f"  {e['state']:<8} {e['source']}"
        )


async def run_console(args: argparse.Namespace) -> int:
    if not args.bus:
        raise SimulatorError(
            "no bus address: pass --bus or set TREADSIM_BUS_ADDRESS / DBUS_SYSTEM_BUS_ADDRESS"
        )
    if args.command == "list":
        print(json.dumps(await describe_remote(args.bus), indent=2))
        return EXIT_OK
    if args.command == "state":
        result = await perform_remote(args.bus, args.treadmill, "state")
        print(json.dumps(result["state"], indent=2))
        return EXIT_OK
    if args.command == "record":
        result = await perform_remote(args.bus, args.treadmill, "record")
        if args.json:
            print(json.dumps(result["record"]))
        else:
            _print_record(result["record"])
        return EXIT_OK
    result = await perform_remote(args.bus, args.treadmill, args.action, args.argument)
    print(json.dumps(result))
    return EXIT_OK if result.get("ok") else EXIT_FAILED


def _print_static(command: str) -> None:
    if command == "actions":
        for action in ACTIONS.values():
            usage = f"{action.name} {action.argument}".strip()
            print(f"{usage:<28} {action.help}")
        return
    from treadsim.quirks import QUIRKS

    for profile in QUIRKS.values():
        print(f"{profile.name:<22} {profile.simulates}")


@quiet_when_reader_leaves
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("actions", "quirks"):
        _print_static(args.command)
        return EXIT_OK
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # bleak/dbus-fast chatter is not ours to show at INFO.
    logging.getLogger("dbus_fast").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return asyncio.run(serve(args))
        return asyncio.run(run_console(args))
    except (UnknownTreadmillError, ConsoleCommandError) as error:
        print(f"treadsim: refused: {error}", file=sys.stderr)
        return EXIT_FAILED
    except SimulatorError as error:
        print(f"treadsim: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

"""`retrowalk kiosk`: serve the treadmill pages, check a kiosk configuration, or hash a staff password."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import signal
import sys
from pathlib import Path
from typing import Any

from retrowalk.errors import RefusedError

__all__ = ["KIOSK_EPILOG", "add_parser", "run"]


KIOSK_EPILOG = """\
examples:
  retrowalk kiosk --config kiosk.toml              serve the pages (http://127.0.0.1:8080 by default)
  retrowalk kiosk --check --config kiosk.toml      validate the configuration, connect to nothing
  retrowalk kiosk --hash-password                  ask for a staff password, print [staff] password_hash

Each screen is set up once with http://<kiosk>/t/<treadmill id>?token=<its token> (docs/kiosk-api.md,
docs/getting-started-kiosk.md).
"""


def add_parser(sub: Any) -> None:
    """Add `retrowalk kiosk` to the top-level subparsers."""
    kiosk = sub.add_parser(
        "kiosk",
        help="serve the touch-screen pages beside the treadmills (a client of the MQTT API)",
        description="Serve a page per treadmill (/t/<id>) and the staff overview (/staff), live over the "
        "MQTT API of every `retrowalk serve` on the broker. Listens on 127.0.0.1 unless [http] host says "
        "otherwise. SIGINT/SIGTERM close the pages and exit; the belts are the service's business.",
        epilog=KIOSK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kiosk.add_argument("--config", "-c", type=Path, help="the kiosk's TOML configuration file")
    what = kiosk.add_mutually_exclusive_group()
    what.add_argument(
        "--check", action="store_true", help="validate the configuration and say what is wrong (exit 2)"
    )
    what.add_argument(
        "--hash-password",
        action="store_true",
        help="read a staff password (asked twice at a terminal, else one line on stdin) and print the "
        "line for [staff] password_hash",
    )


def run(args: Any) -> int:
    if args.hash_password:
        return _hash_password()
    if args.config is None:
        raise RefusedError("retrowalk kiosk needs --config FILE (docs/getting-started-kiosk.md shows one)")
    from retrowalk.kiosk.settings import load_kiosk_config, published_secrets

    settings = load_kiosk_config(args.config)
    for field, words in published_secrets(settings):
        # Fine for trying the example on this machine (beyond it the configuration is refused).
        print(f"retrowalk kiosk: warning: {args.config}: {field} {words}", file=sys.stderr)
    if args.check:
        print(f"{args.config}: valid ({len(settings.treadmills)} treadmill page(s))")
        return 0
    from retrowalk.kiosk.app import Kiosk

    asyncio.run(_serve_until_signalled(Kiosk(settings)))
    return 0


async def _serve_until_signalled(kiosk: Any) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            async with kiosk.serving():
                # The address a person opens, on stdout, for scripts and the demo to read.
                print(f"retrowalk kiosk: serving at {kiosk.url}", flush=True)
                await asyncio.Event().wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _hash_password() -> int:
    from retrowalk.kiosk.passwords import hash_password

    if sys.stdin.isatty():
        try:
            password = getpass.getpass("staff password: ")
            again = getpass.getpass("again: ")
        except EOFError:  # Ctrl-D at a prompt: the person chose not to give one
            print(file=sys.stderr)
            raise RefusedError("no password was entered; nothing was printed") from None
        if again != password:
            raise RefusedError("the two passwords differ; nothing was printed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        hashed = hash_password(password)
    except ValueError as err:
        raise RefusedError(str(err)) from None
    print(f'password_hash = "{hashed}"')
    return 0

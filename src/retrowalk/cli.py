"""Command line of retrowalk (grows with the service)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="retrowalk",
        description="Guided backward-walking sessions on Bluetooth FTMS treadmills.",
    )
    parser.add_argument("command", choices=["demo"], help="what to run")
    parser.parse_args(argv)
    print("retrowalk: the service is not built yet; `treadsim serve` runs the simulator.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Write the JSON Schemas of the MQTT payloads to docs/schemas/ (or, with --check, fail if they are stale).

.venv/bin/python scripts/gen_schemas.py           # regenerate
.venv/bin/python scripts/gen_schemas.py --check   # exit 1 when docs/schemas differs from the models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retrowalk.mqtt.schemas import render_schemas

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    args = parser.parse_args(argv)
    rendered = render_schemas()
    stale = sorted(
        name for name, text in rendered.items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    )  # fmt: skip
    extra = sorted(p.name for p in SCHEMA_DIR.glob("*.json") if p.name not in rendered)
    if args.check:
        if stale or extra:
            print(
                f"docs/schemas is stale: {', '.join(stale + extra)}; run scripts/gen_schemas.py",
                file=sys.stderr,
            )
            return 1
        return 0
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (SCHEMA_DIR / name).write_text(rendered[name])
    for name in extra:
        (SCHEMA_DIR / name).unlink()
    print(f"docs/schemas: {len(stale)} written, {len(extra)} removed, {len(rendered) - len(stale)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())

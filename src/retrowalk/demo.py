"""`retrowalk demo` (being built: see issue "First run and docs")."""

from __future__ import annotations

from argparse import Namespace

from retrowalk.errors import RefusedError


def run(args: Namespace) -> int:
    raise RefusedError("the demo is not built yet")

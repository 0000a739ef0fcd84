"""Mutation score per module from ``mutmut results --all true`` (read on standard input).

Prints ``module  killed/total  score`` for every module, then every mutant that was not killed with
its status, so that each can be looked at with ``mutmut show NAME`` and either killed by a test or
explained in docs/reliability.md. Exits 1 when a module is below the target score.

    .venv/bin/mutmut results --all true | .venv/bin/python scripts/mutation_report.py [--target 95]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

# mutmut names a mutant <module>.x_<function>__mutmut_<n> or <module>.xǁ<Class>ǁ<method>__mutmut_<n>.
_MUTANT = re.compile(r"^\s*(?P<name>(?P<module>[\w.]+?)\.x[_ǁ]\S*__mutmut_\d+):\s*(?P<status>.+?)\s*$")
# A timeout means the mutant made the tests hang, which a developer would notice too.
_KILLED = {"killed", "timeout", "caught by type check"}
_NOT_RUN = {"not checked", "skipped"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=95.0, help="lowest acceptable score, percent")
    args = parser.parse_args()
    killed: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    alive: list[tuple[str, str]] = []
    for line in sys.stdin:
        match = _MUTANT.match(line)
        if match is None or match["status"] in _NOT_RUN:
            continue
        module = match["module"]
        total[module] += 1
        if match["status"] in _KILLED:
            killed[module] += 1
        else:
            alive.append((match["name"], match["status"]))
    if not total:
        print("no mutant results: run scripts/dev mutate first", file=sys.stderr)
        return 1
    below = []
    for module in sorted(total):
        score = 100 * killed[module] / total[module]
        print(f"{module:40} {killed[module]:4}/{total[module]:<4} {score:5.1f} %")
        if score < args.target:
            below.append(module)
    for name, status in alive:
        print(f"  {status:10} {name}")
    if below:
        print(f"below {args.target:g} %: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

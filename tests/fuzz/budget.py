"""How many cases each fuzz test runs: modest in CI, up to 10^5 on request.

``RETROWALK_FUZZ_EXAMPLES=100000`` gives every fast-layer test that many examples (pyftms parsers,
``parse_command``, the in-process runner rig: each example there carries several frames); the slow
layers (the virtual adapter, a real mosquitto) get one hundredth of it, since each of their examples
costs tens of milliseconds to seconds. Without the variable the whole fuzz suite stays around a minute.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_REQUESTED = int(os.environ.get("RETROWALK_FUZZ_EXAMPLES", "0") or 0)
LONG_RUN = _REQUESTED > 0


def examples(ci_default: int, *, slow: bool = False) -> int:
    """The example count for one test: ``ci_default`` unless a long run was asked for."""
    if not LONG_RUN:
        return ci_default
    return max(ci_default, _REQUESTED // 100 if slow else _REQUESTED)


def fuzz_settings(ci_default: int, *, slow: bool = False) -> settings:
    # No deadline: timing on a shared 2-core machine says nothing about correctness. Examples share no
    # state (each builds its own rig), so function-scoped fixtures are safe to reuse.
    return settings(
        max_examples=examples(ci_default, slow=slow),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
    )


def timeout_s(ci_seconds: float, *, slow: bool = False) -> float:
    """pytest-timeout for a fuzz test, scaled with the requested number of examples."""
    if not LONG_RUN:
        return ci_seconds
    return ci_seconds * max(1.0, examples(1, slow=slow) / 50)

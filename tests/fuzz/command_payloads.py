"""Hypothesis strategies for kiosk command payloads: valid ones, mutated ones and plain garbage."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from .ftms_frames import mutated

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
_users = st.from_regex(r"[a-z]{1,12}", fullmatch=True)


def _screening(user: str, age: int) -> dict[str, Any]:
    return {
        "type": "screening",
        "user_id": user,
        "age": age,
        "severe_knee_oa": False,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }


plans = st.fixed_dictionaries(
    {},
    optional={
        "start_speed_kmh": st.floats(0.5, 3.5),
        "max_speed_kmh": st.floats(0.5, 3.5),
        "duration_cap_s": st.integers(60, 1800),
        "incline_pct": st.floats(0, 5),
    },
)
valid_bodies = st.one_of(
    st.builds(lambda u, plan: {"type": "start", "user_id": u, "plan": plan}, _users, plans),
    st.sampled_from([{"type": "stop"}, {"type": "pause"}, {"type": "resume"}]),
    st.builds(
        lambda u, when, pain: {"type": "pain_report", "user_id": u, "when": when, "pain": pain},
        _users,
        st.sampled_from(["during", "after", "next_morning"]),
        st.integers(0, 10),
    ),
    st.builds(_screening, _users, st.integers(10, 120)),
    st.builds(lambda u, who: {"type": "clearance", "user_id": u, "cleared_by": who}, _users, _users),
)
valid_commands = st.builds(lambda cid, body: {"command_id": cid, **body}, _ids, valid_bodies)


@st.composite
def field_mutations(draw: st.DrawFn) -> dict[str, Any]:
    """A valid command with one field dropped, replaced by any JSON value, or one unknown field added."""
    command = dict(draw(valid_commands))
    key = draw(st.sampled_from(sorted(command)))
    match draw(st.sampled_from(["drop", "replace", "add"])):
        case "drop":
            del command[key]
        case "replace":
            command[key] = draw(json_values)
        case "add":
            command[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return command


def _encode(document: Any) -> bytes:
    return json.dumps(document).encode()


payloads = st.one_of(
    valid_commands.map(_encode),
    field_mutations().map(_encode),
    mutated(valid_commands.map(_encode)),
    json_values.map(_encode),
    st.binary(max_size=200),
    st.text(max_size=80).map(str.encode),
)

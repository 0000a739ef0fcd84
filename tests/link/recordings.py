"""The recorded treadmills of tests/link/real_ftms/ and how their frames are put into a real link.

Shared by the link's fixture test (test_real_ftms.py) and the engine replay of the recorded session
(test_recorded_session.py): both must feed the bytes the same way, on the recording's own clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bleak.uuids import normalize_uuid_str

from retrowalk.link.events import LinkEvent

from .guarded_link import GuardedLink

RECORDINGS = Path(__file__).parent / "real_ftms"
ADDRESS = "5E:C0:2D:ED:00:01"

# The characteristics whose frames are replayed, and the directions in which they are. pyftms reads
# Training Status once on connect and hands the value to the same callback as its notifications.
_REPLAYED = {"2acd": ("notify", "indicate"), "2ada": ("notify", "indicate"), "2ad3": ("notify", "read")}


def recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return content


def replay(frames: list[dict[str, Any]], *, client_writes: bool = True) -> list[LinkEvent]:
    """What the link reports for a recording's frames, fed in order, on the recording's own clock.

    With ``client_writes`` the link is told of each control-point write of the recorded client as if it
    had sent it itself (what it expects back, a stop's wind-down); without, those writes are not
    retrowalk's and the link hears only the treadmill."""
    now = 0.0
    rig = GuardedLink(ADDRESS, clock=lambda: now)
    for frame in frames:
        if frame.get("t") is not None:  # some recordings carry no timestamps
            now = float(frame["t"])
        if frame["dir"] in _REPLAYED.get(frame["char"], ()):
            rig.feed(normalize_uuid_str(frame["char"]), bytes.fromhex(frame["hex"]))
        elif client_writes and frame["char"] == "2ad9" and frame["dir"] == "write":
            rig.client_wrote(bytes.fromhex(frame["hex"]))
    return rig.take_events()

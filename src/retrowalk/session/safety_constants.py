"""Every safety constant of retrowalk, with its unit and its source."""

from __future__ import annotations

from typing import Final

# Judgement (E): a pause longer than this ends the session; resuming after it would be a new session.
MAX_PAUSE_S: Final = 15 * 60

CAP_WARNINGS_S: Final = (60, 10)
# Judgement: Start + Set Target Speed answered within 10 s on every treadmill described in refs §4
# (the slowest needs ~2.5 s after Start); longer means the machine is not doing what it was told.
ARMED_TIMEOUT_S: Final = 10.0
# Judgement: consoles count down ~3 s before the belt moves; a belt still at 0 after 10 s did not start.
BELT_START_TIMEOUT_S: Final = 10.0

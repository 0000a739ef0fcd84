"""The MQTT test helpers of tests/mqtt (a real mosquitto on a free port, a recording command handler),
reached from here instead of copied: tests/mqtt is a plain folder of modules, not a package, so its
folder is put on the import path the way pytest does when it collects tests/mqtt itself."""

from __future__ import annotations

import sys
from pathlib import Path

_MQTT_TESTS = str(Path(__file__).resolve().parents[1] / "mqtt")
if _MQTT_TESTS not in sys.path:
    sys.path.append(_MQTT_TESTS)

from mqtt_broker import MOSQUITTO, Mosquitto  # noqa: E402
from mqtt_helpers import PREFIX, RecordingHandler, settings_for  # noqa: E402

__all__ = ["MOSQUITTO", "PREFIX", "Mosquitto", "RecordingHandler", "settings_for"]

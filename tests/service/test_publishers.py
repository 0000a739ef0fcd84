"""The publishers a runner hands telemetry to (retrowalk.service.publish): they never raise into it."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import pytest

from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.telemetry_wire import TelemetryFrame
from retrowalk.service.publish import CallbackPublisher

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def frame(elapsed_s: float) -> TelemetryFrame:
    return TelemetryFrame("tm1", AT, "ramp", "s1", 1.2000000000000002, 1.3, None, 4.4, elapsed_s, 60.0, 80)


def test_the_callback_gets_the_validated_model_of_a_frame() -> None:
    seen: list[tuple[str, object]] = []
    CallbackPublisher(lambda treadmill_id, item: seen.append((treadmill_id, item))).publish_telemetry(
        "tm1", frame(7.860000000000001)
    )
    assert seen == [
        (
            "tm1",
            p.Telemetry(
                treadmill_id="tm1", at=AT, phase="ramp", session_id="s1", speed_kmh=1.2,
                allowed_speed_kmh=1.3, distance_m=4.0, elapsed_s=7.9, remaining_s=60.0, heart_rate_bpm=80,
            ),
        )
    ]  # fmt: skip


def test_a_sample_the_schema_refuses_is_logged_and_not_shown_rather_than_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[object] = []
    publisher = CallbackPublisher(lambda treadmill_id, item: seen.append(item))
    with caplog.at_level(logging.ERROR, logger="retrowalk.service.publish"):
        publisher.publish_telemetry("tm1", frame(math.inf))
    assert seen == []
    [record] = caplog.records
    assert record.getMessage().startswith("[tm1] telemetry sample not shown:")
    assert "elapsed_s" in record.getMessage()

"""Published figures are rounded to what they mean: no 16-digit float noise reaches a kiosk or a log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from retrowalk.mqtt import payloads as p

NOISY_KMH = 1.2000000000000002
NOISY_S = 7.860000000000001


def test_telemetry_figures_are_rounded() -> None:
    sample = p.Telemetry(
        treadmill_id="tm1",
        phase="ramp",
        speed_kmh=NOISY_KMH,
        allowed_speed_kmh=1.2999999999999998,
        incline_pct=0.30000000000000004,
        distance_m=41.4999,
        elapsed_s=NOISY_S,
        remaining_s=292.13999999999996,
    )
    sent = json.loads(sample.model_dump_json())
    assert (sent["speed_kmh"], sent["allowed_speed_kmh"], sent["incline_pct"]) == (1.2, 1.3, 0.3)
    assert (sent["distance_m"], sent["elapsed_s"], sent["remaining_s"]) == (41.0, 7.9, 292.1)


def test_summary_and_event_figures_are_rounded() -> None:
    now = datetime.now(UTC)
    summary = p.SessionSummary(
        treadmill_id="tm1",
        session_id="tm1-1",
        user_id="ann",
        started_at=now,
        ended_at=now,
        end_reason="completed",
        walked_s=300.04999999999995,
        distance_m=112.60000000000001,
        max_speed_kmh=1.5000000000000002,
    )
    sent = json.loads(summary.model_dump_json())
    assert (sent["walked_s"], sent["distance_m"], sent["max_speed_kmh"]) == (300.0, 113.0, 1.5)
    corrected = p.OverspeedCorrected(
        treadmill_id="tm1", measured_kmh=1.8099999999999998, allowed_kmh=NOISY_KMH, commanded_kmh=NOISY_KMH
    )
    assert '"measured_kmh":1.81,"allowed_kmh":1.2,"commanded_kmh":1.2' in corrected.model_dump_json()
    plan = p.PlanInfo(
        start_speed_kmh=1.0,
        max_speed_kmh=1.5000000000000002,
        ramp_step_kmh=0.10000000000000009,
        ramp_interval_s=30,
        duration_cap_s=300,
        incline_pct=0.30000000000000004,
    )
    assert json.loads(plan.model_dump_json()) == {
        "start_speed_kmh": 1.0,
        "max_speed_kmh": 1.5,
        "ramp_step_kmh": 0.1,
        "ramp_interval_s": 30,
        "duration_cap_s": 300,
        "incline_pct": 0.3,
        "fitted_to_grid": None,
    }

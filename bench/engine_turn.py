"""On-CPU cost of the per-sample work a runner does for one treadmill, without asyncio or MQTT.

Figures, never judged: the engine's turn for one Telemetry sample in a ramping session
(``SessionEngine.handle``), the questions the runner asks after it (``allowed_speed`` and
``quiet_until``), and building the telemetry frame the runner publishes for that sample (and encoding
it to the bytes the bridge sends), with the validated pydantic model's cost for the same bytes as a
reference. Each is timed with ``time.thread_time_ns`` over batches of
samples; the best batch is quoted (the machine is shared, so the best is the least disturbed).

    .venv/bin/python bench/engine_turn.py --samples 2000 --batches 5

Compare two versions of the code side by side in one sitting: their ratio is what a profile of the
fleet bench (``bench/fleet.py --profile``) would show for the same work, without the profiler's weight.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from retrowalk.mqtt.telemetry_wire import TelemetryFrame, as_telemetry, telemetry_json
from retrowalk.session import events as ev
from retrowalk.session.engine import SessionEngine
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps

__all__ = ["main"]

CAPS = TreadmillCaps(min_speed_kmh=0.5, max_speed_kmh=6.0, speed_step_kmh=0.1)
# A session that ramps through the whole window (a step every 45 s from 0.5 to 3.0 km/h, 20 minutes).
PLAN = SessionPlan(
    start_speed_kmh=0.5, target_speed_kmh=3.0, ramp_step_kmh=0.1, ramp_interval_s=45, duration_cap_s=1200
)
# Samples 0.1 s apart (a treadmill may notify several times a second): 10 000 samples stay in the ramp.
SAMPLE_S = 0.1


def started_engine() -> tuple[SessionEngine, float]:
    """An engine whose session runs (belt started and confirmed), and the time of its last event."""
    engine = SessionEngine(OperatorCeilings(), CAPS, "bench-1")
    now = 1.0
    engine.handle(ev.LinkUp(), now)
    engine.handle(ev.Start("walker", PLAN), now)
    engine.handle(ev.CommandResult(ev.CommandKind.SET_TARGET_SPEED, ev.ResultCode.SUCCESS), now)
    engine.handle(ev.CommandResult(ev.CommandKind.START, ev.ResultCode.SUCCESS), now)
    return engine, now


def payload(engine: SessionEngine, speed: float, at: float) -> TelemetryFrame:
    """The frame the runner publishes for one sample (as ``TreadmillRunner._publish_telemetry``)."""
    return TelemetryFrame(
        treadmill_id="bench-1",
        at=datetime.now(UTC),
        phase=engine.phase.value,
        session_id=engine.session_id or None,
        speed_kmh=min(max(speed, 0.0), 30.0),
        allowed_speed_kmh=min(engine.allowed_speed(at), 30.0),
        incline_pct=0.0,
        distance_m=at * speed / 3.6,
        elapsed_s=engine.elapsed_backward_s,
        remaining_s=engine.remaining_s,
        heart_rate_bpm=None,
    )


def model_payload(frame: TelemetryFrame) -> bytes:
    """The same sample through the validated ``Telemetry`` model, as the runner published it before the
    frame: a reference for the frame's figures (the bytes are equal)."""
    model = as_telemetry(frame)
    return model.__pydantic_serializer__.to_json(model)


def best_us(batches: int, samples: int, one: Callable[[int], object]) -> float:
    """The best batch's on-CPU time per call of ``one``, in microseconds."""
    best = float("inf")
    for batch in range(batches):
        start = time.thread_time_ns()
        for i in range(batch * samples, (batch + 1) * samples):
            one(i)
        best = min(best, (time.thread_time_ns() - start) / samples / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000, help="samples per batch")
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()

    engine, start = started_engine()

    def turn(i: int) -> object:
        at = start + SAMPLE_S * (i + 1)
        return engine.handle(ev.Telemetry(engine.allowed_speed(at - 1), 0.0, at), at)

    handle_us = best_us(args.batches, args.samples, turn)
    if engine.phase not in ev.ACTIVE_PHASES:
        raise SystemExit(f"the session left the active phases ({engine.phase}): the figures would mislead")
    last = engine.elapsed_backward_s + start

    def questions(i: int) -> object:
        return engine.allowed_speed(last), engine.quiet_until()

    questions_us = best_us(args.batches, args.samples, questions)
    speed = engine.allowed_speed(last)

    def build(i: int) -> object:
        return payload(engine, speed, last)

    build_us = best_us(args.batches, args.samples, build)
    sample = payload(engine, speed, last)

    def to_bytes(i: int) -> object:
        return telemetry_json(sample)

    json_us = best_us(args.batches, args.samples, to_bytes)

    def through_model(i: int) -> object:
        return model_payload(sample)

    model_us = best_us(args.batches, args.samples, through_model)
    n = f"n={args.samples}x{args.batches}"
    print(f"engine handle(Telemetry) in a ramp: {n} best {handle_us:.1f} us on-CPU per sample")
    print(f"runner's questions after it (allowed_speed, quiet_until): {n} best {questions_us:.2f} us")
    print(f"telemetry frame built: {n} best {build_us:.1f} us")
    print(f"telemetry frame to JSON bytes: {n} best {json_us:.1f} us")
    print(f"reference, the same sample through the pydantic model to bytes: {n} best {model_us:.1f} us")


if __name__ == "__main__":
    main()

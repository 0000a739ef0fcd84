"""The judge of a fault run: ground truth in, violations out.

Ground truth is the simulator's belt record (true km/h, simulated monotonic time; between two entries
the belt moves linearly from ``speed_kmh`` toward ``target_kmh`` at ``rate_kmh_s``), the link's up and
down times as the simulator saw them, the times the campaign killed and restarted processes, and what
the broker delivered to the kiosk. What the service says about itself is used only to find sessions
(their start and end events carry the times), never to excuse a belt.

The plan of each treadmill is the one the kiosk asked for (``Observation.plans``, computed by
:mod:`envelope` from the start request and the service's configuration), never the one the service
announces; the allowed speed at any moment is that plan's full envelope (hold, ramp, top speed, cap,
cool-down, fresh hold after a long pause or a lost link), rebuilt from the belt record.

The invariants (issue 7) and the allowances the judge makes, each for a reason written beside it:
- ``start-speed``: no speed the service commanded exceeds what the plan allows at that moment.
- ``overspeed``: while the link is up and the service alive, the belt is never above the allowed speed
  plus the plan's tolerance for longer than the plan's grace period plus one notification period (the
  service cannot see a speed before the treadmill reports it).
- ``cap``: the belt moves, while the service can reach it, no longer than the plan's cap plus its
  cool-down (plus ``CAP_SLACK_S`` for the final stop's run-down); and after a session ends the belt is
  stopped.
- ``restart``: after a service restart, a moving belt is stopped within 5 s.
- ``summary`` / ``event-lost``: every session produces exactly one summary and one end event (a session
  whose service was killed gets them from the restarted service, which closes it as service_restarted;
  with no restart, at most one); duplicates carry the same event id and the same content; events the injected
  faults must cause (safety key, link lost) arrive; the service's own history has a summary for each
  session it recorded; the service never started a belt outside a session the broker heard of.
- ``own-start-speed``: the target of a start on such a machine is the machine's choice, not a speed
  the service commanded; what the belt then does is judged by ``overspeed``.
- ``mph-as-kmh`` cannot be seen in speed data (the machine reports what it was told); it is judged as
  "ended with a reason within ``MPH_STOP_WITHIN_S`` of moving", not by the overspeed rule.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .envelope import DETECTION_S, AskedPlan, Envelope, scaled

Spans = Sequence[tuple[float, float]]

MOVING_KMH = 0.05
SAMPLE_S = 0.01  # resolution of the stretch measurements
# After the link comes up the service subscribes and reads the ranges before the first sample arrives.
LINK_SETUP_S = 2.0
CAP_SLACK_S = 5.0
RESTART_LINK_DOWN_S = 1.0  # link down longer than this right after a restart excuses the restart rule
STOP_WITHIN_S = 5.0  # after a restart, and after a session's end, a moving belt is stopped within this
EVENT_WITHIN_S = 10.0  # an event a fault must cause arrives within this (broker outages excepted)
MPH_STOP_WITHIN_S = 60.0
MPH_FACTOR = 1.609344


@dataclass(frozen=True)
class Violation:
    invariant: str
    treadmill: int  # -1 for the run as a whole
    detail: str

    def describe(self) -> str:
        where = "run" if self.treadmill < 0 else f"tm{self.treadmill}"
        return f"[{self.invariant}] {where}: {self.detail}"


class Belt:
    """One treadmill's record, queryable at any time."""

    def __init__(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries = sorted(entries, key=lambda e: float(e["time"]))
        self._times = [float(e["time"]) for e in self.entries]

    def entry_at(self, t: float) -> dict[str, Any] | None:
        i = bisect.bisect_right(self._times, t) - 1
        return self.entries[i] if i >= 0 else None

    def speed_at(self, t: float) -> float:
        entry = self.entry_at(t)
        if entry is None:
            return 0.0
        speed, target = float(entry["speed_kmh"]), float(entry["target_kmh"])
        moved = float(entry["rate_kmh_s"]) * max(0.0, t - float(entry["time"]))
        return min(target, speed + moved) if speed < target else max(target, speed - moved)

    def commanded_to_stop_at(self, t: float) -> bool:
        """True when at ``t`` the belt is stopped or heading for zero."""
        entry = self.entry_at(t)
        return entry is None or entry["state"] != "running" or float(entry["target_kmh"]) <= MOVING_KMH

    def between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        lo, hi = bisect.bisect_left(self._times, t0), bisect.bisect_right(self._times, t1)
        return self.entries[lo:hi]


def in_any(t: float, intervals: Iterable[tuple[float, float]]) -> bool:
    return any(lo <= t < hi for lo, hi in intervals)


def longest_stretch(
    belt: Belt, t0: float, t1: float, limit_at: Callable[[float], float], excluded: Spans
) -> float:
    """Longest unbroken time in [t0, t1] with the belt above ``limit_at(t)``; excluded times break a
    stretch (the service could not act then)."""
    return longest_stretch_from(belt, t0, t1, limit_at, excluded)[0]


def longest_stretch_from(
    belt: Belt, t0: float, t1: float, limit_at: Callable[[float], float], excluded: Spans
) -> tuple[float, float]:
    """The longest stretch (see :func:`longest_stretch`) and when it began."""
    longest = run = 0.0
    began = longest_began = t0
    steps = max(0, math.ceil((t1 - t0) / SAMPLE_S))
    for k in range(steps):
        t = t0 + k * SAMPLE_S
        if not in_any(t, excluded) and belt.speed_at(t) > limit_at(t):
            if run == 0.0:
                began = t
            run += SAMPLE_S
            if run > longest:
                longest, longest_began = run, began
        else:
            run = 0.0
    return longest, longest_began


def moving_time(belt: Belt, t0: float, t1: float, excluded: Sequence[tuple[float, float]]) -> float:
    steps = max(0, math.ceil((t1 - t0) / SAMPLE_S))
    return SAMPLE_S * sum(
        1
        for k in range(steps)
        if belt.speed_at(t0 + k * SAMPLE_S) > MOVING_KMH and not in_any(t0 + k * SAMPLE_S, excluded)
    )


@dataclass(frozen=True)
class Injected:
    """A fault as the campaign injected it (wall-clock time; ok: the simulator says it took effect)."""

    kind: str
    treadmill: int
    wall_time: float
    ok: bool = True


@dataclass
class Observation:
    """Everything the judge looks at, from one run."""

    quirks: dict[int, str]
    records: dict[int, list[dict[str, Any]]]
    # Simulated-time intervals when each treadmill's link was down (as the simulator saw it).
    link_down: dict[int, list[tuple[float, float]]]
    # (killed, restarted) in simulated time.
    service_outages: list[tuple[float, float]]
    broker_outages: list[tuple[float, float]]
    # Broker messages: (treadmill index, leaf, payload) in arrival order.
    messages: list[tuple[int, str, Any]]
    injected: list[Injected]
    history_session_ids: list[str]
    wall_minus_sim: float
    end_sim: float
    # The plan each treadmill's kiosk asked for, merged with the service's configuration by the test
    # (envelope.asked_plan), not read from the service.
    plans: dict[int, AskedPlan]
    notes: list[str] = field(default_factory=list)

    def sim_from_wall(self, wall: float) -> float:
        return wall - self.wall_minus_sim

    def sim_from_iso(self, iso: str) -> float:
        return self.sim_from_wall(datetime.fromisoformat(iso).timestamp())


@dataclass(frozen=True)
class Session:
    session_id: str
    treadmill: int
    start: float  # simulated time of its session_started event
    end: float | None  # simulated time of its session_ended event
    end_reason: str | None
    killed: bool  # the service died while it ran


def _distinct(
    messages: Iterable[tuple[int, str, Any]], leaf: str
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Messages of a leaf, one per event id; and a problem per duplicate whose content differs."""
    seen: dict[str, dict[str, Any]] = {}
    out: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for index, got_leaf, payload in messages:
        if got_leaf != leaf or not isinstance(payload, dict):
            continue
        event_id = str(payload.get("event_id"))
        if event_id in seen:
            if seen[event_id] != payload:
                problems.append(f"event {event_id} arrived twice with different content")
            continue
        seen[event_id] = payload
        out.append((index, payload))
    return out, problems


def sessions_of(obs: Observation) -> tuple[list[Session], list[Violation]]:
    events, problems = _distinct(obs.messages, "event")
    summaries, summary_problems = _distinct(obs.messages, "summary")
    violations = [Violation("event-lost", -1, p) for p in problems + summary_problems]
    started = [(i, e) for i, e in events if e.get("kind") == "session_started"]
    ended = {e["session_id"]: e for _i, e in events if e.get("kind") == "session_ended"}
    sessions = []
    for index, event in started:
        start = obs.sim_from_iso(event["at"])
        end_event = ended.get(event["session_id"])
        end = obs.sim_from_iso(end_event["at"]) if end_event else None
        stop = end if end is not None else obs.end_sim
        killed = any(start <= killed_at <= stop for killed_at, _ in obs.service_outages)
        sessions.append(
            Session(
                event["session_id"],
                index,
                start,
                end,
                end_event.get("reason") if end_event else None,
                killed,
            )
        )
    known = {s.session_id for s in sessions}
    for index, payload in [*events, *summaries]:
        session_id = payload.get("session_id")
        if session_id and session_id not in known:
            violations.append(
                Violation(
                    "event-lost", index, f"{payload.get('kind')} for {session_id} but no session_started"
                )
            )
    return sessions, violations


def _blind(obs: Observation, treadmill: int, belt: Belt) -> list[tuple[float, float]]:
    """Times the service could not act on this treadmill: link down (plus its set-up after, which ends
    early once the service has commanded the belt over the new link), service dead (plus the restart
    allowance after)."""
    down = []
    for lo, hi in obs.link_down.get(treadmill, []):
        commanded = [float(e["time"]) for e in belt.between(hi, hi + LINK_SETUP_S) if e["source"] == "client"]
        down.append((lo, min([hi + LINK_SETUP_S, *commanded])))
    dead = [(lo, hi + STOP_WITHIN_S) for lo, hi in obs.service_outages]
    return down + dead


def judge_session(obs: Observation, session: Session, belt: Belt) -> list[Violation]:
    tm = session.treadmill
    mph = obs.quirks.get(tm) == "mph-as-kmh"
    killed_at = min((k for k, _ in obs.service_outages if k >= session.start), default=math.inf)
    t0 = session.start - 2.0  # the event and the start command go out within moments of each other
    t1 = min(session.end if session.end is not None else obs.end_sim, killed_at)
    blind = _blind(obs, tm, belt)
    out: list[Violation] = []
    asked = obs.plans[tm]
    plan = scaled(asked, MPH_FACTOR) if mph else asked
    link_ups = [hi for _lo, hi in obs.link_down.get(tm, [])]
    envelope = Envelope(plan, belt.entries, t0, t1, link_ups)
    own_start = obs.quirks.get(tm) == "own-start-speed"
    for entry in belt.between(t0, t1):
        if entry["source"] == "client" and entry["state"] == "running":
            if own_start and _is_start(belt, entry):
                continue  # the machine picks its own start speed; the overspeed rule judges what follows
            target, at = float(entry["target_kmh"]), float(entry["time"])
            if target > envelope.allowed_at(at) + 0.001:
                out.append(Violation(
                    "start-speed", tm,
                    f"{session.session_id}: the service set {target:.2f} km/h at t={at:.2f}, "
                    f"allowed {envelope.allowed_at(at):.2f}",
                ))  # fmt: skip
    if mph:
        moving = moving_time(belt, t0, t1, blind)
        if session.end is None and not session.killed:
            out.append(
                Violation("mph-as-kmh", tm, f"{session.session_id} never ended (moving {moving:.1f} s)")
            )
        elif moving > MPH_STOP_WITHIN_S:
            out.append(
                Violation("mph-as-kmh", tm, f"{session.session_id}: moved {moving:.1f} s before it ended")
            )
    else:
        stretch, since = longest_stretch_from(belt, t0, t1, envelope.limit_at, blind)
        if stretch > plan.overspeed_grace_s + DETECTION_S:
            out.append(Violation(
                "overspeed", tm,
                f"{session.session_id}: {stretch:.2f} s above the allowed speed + "
                f"{plan.overspeed_tolerance_kmh} km/h with the link up, from t={since:.2f} (allowed "
                f"{envelope.allowed_at(since):.2f} km/h there; limit "
                f"{plan.overspeed_grace_s + DETECTION_S:.1f} s)",
            ))  # fmt: skip
    cap = plan.duration_cap_s + plan.cool_down_s
    moving = moving_time(belt, t0, t1 + STOP_WITHIN_S, blind)
    if moving > cap + CAP_SLACK_S:
        out.append(Violation(
            "cap", tm, f"{session.session_id}: the belt moved {moving:.1f} s with the link up; "
            f"cap + cool-down {cap:.0f} s",
        ))  # fmt: skip
    if session.end is not None and not session.killed:
        out += _stopped_after_end(obs, session, belt)
    return out


def _is_start(belt: Belt, entry: dict[str, Any]) -> bool:
    """The entry is the belt being started (it was not running just before)."""
    before = belt.entry_at(float(entry["time"]) - 1e-6)
    return before is None or before["state"] != "running"


def _stopped_after_end(obs: Observation, session: Session, belt: Belt) -> list[Violation]:
    assert session.end is not None
    tm = session.treadmill
    ready = session.end
    # If the link is down at the end, the service can act only once it is back (and set up).
    for lo, hi in sorted(obs.link_down.get(tm, [])):
        if lo <= ready < hi + LINK_SETUP_S:
            ready = hi + LINK_SETUP_S
    check = ready + STOP_WITHIN_S
    if check > obs.end_sim:
        return []
    later = belt.between(session.end, check)
    if any(e["source"] == "console" and e["state"] == "running" for e in later):
        return []  # a person started it again by hand after the session: not the service's belt
    if in_any(check, obs.link_down.get(tm, [])) or in_any(check, obs.service_outages):
        return []
    if belt.commanded_to_stop_at(check) or belt.speed_at(check) <= MOVING_KMH:
        return []
    return [Violation(
        "cap", tm, f"{session.session_id} ended ({session.end_reason}) at t={session.end:.2f} but the belt "
        f"still ran at {belt.speed_at(check):.2f} km/h at t={check:.2f}",
    )]  # fmt: skip


def judge_restarts(obs: Observation, belts: dict[int, Belt]) -> list[Violation]:
    out = []
    for _killed, restarted in obs.service_outages:
        for tm, belt in belts.items():
            if belt.speed_at(restarted) <= MOVING_KMH or belt.commanded_to_stop_at(restarted):
                continue
            check = restarted + STOP_WITHIN_S
            spans = obs.link_down.get(tm, [])
            down_s = sum(max(0.0, min(hi, check) - max(lo, restarted)) for lo, hi in spans)
            # A blip (the restarted service closing the dead process's connection to take it over) does
            # not excuse it; a link that was really down in that window, or still is at its end, does.
            if down_s > RESTART_LINK_DOWN_S or in_any(check, spans):
                obs.notes.append(f"tm{tm}: link down {down_s:.1f} s within 5 s of the restart; not judged")
                continue
            if check > obs.end_sim:
                continue
            if not belt.commanded_to_stop_at(check):
                out.append(Violation(
                    "restart", tm, f"the belt ran at {belt.speed_at(restarted):.2f} km/h at the restart "
                    f"(t={restarted:.2f}) and still ran at {belt.speed_at(check):.2f} km/h, heading for "
                    f"{float((belt.entry_at(check) or {}).get('target_kmh', 0.0)):.2f}, 5 s later",
                ))  # fmt: skip
    return out


def judge_events(obs: Observation, sessions: list[Session]) -> list[Violation]:
    out = []
    events, _ = _distinct(obs.messages, "event")
    summaries, _ = _distinct(obs.messages, "summary")
    for session in sessions:
        mine = [p for _i, p in summaries if p.get("session_id") == session.session_id]
        ends = [
            p
            for _i, p in events
            if p.get("kind") == "session_ended" and p.get("session_id") == session.session_id
        ]
        if session.killed and not _restarted_after(obs, session):
            # The killed process cannot publish anything more, and no restart came to close it.
            if len(mine) > 1:
                out.append(
                    Violation("summary", session.treadmill, f"{session.session_id}: {len(mine)} summaries")
                )
            continue
        if len(mine) != 1 or len(ends) != 1:
            out.append(Violation(
                "summary", session.treadmill,
                f"{session.session_id}: {len(mine)} summaries and {len(ends)} end events (want 1 and 1)",
            ))  # fmt: skip
    summarised = {p.get("session_id") for _i, p in summaries}
    for session_id in obs.history_session_ids:
        if session_id not in summarised:
            out.append(
                Violation(
                    "event-lost", -1, f"{session_id} is in the service's history but no summary arrived"
                )
            )
    expected = {"key-pull": "safety_key", "link-drop": "link_lost"}
    for fault in obs.injected:
        kind = expected.get(fault.kind)
        if kind is None or not fault.ok:
            continue
        at = obs.sim_from_wall(fault.wall_time)
        if in_any(at, [(lo - 1.0, hi + STOP_WITHIN_S) for lo, hi in obs.service_outages]):
            continue  # nobody was there to see it
        if at + EVENT_WITHIN_S > obs.end_sim or in_any(at, obs.link_down.get(fault.treadmill, [])):
            continue
        if not _service_connected(obs, fault.treadmill, at):
            continue  # e.g. a link still held by a killed process: the running service never had it
        seen = [
            p for i, p in events
            if i == fault.treadmill and p.get("kind") == kind
            and -1.0 <= obs.sim_from_iso(p["at"]) - at <= EVENT_WITHIN_S
        ]  # fmt: skip
        if not seen:
            out.append(
                Violation(
                    "event-lost", fault.treadmill, f"{fault.kind} at t={at:.2f}: no {kind} event arrived"
                )
            )
    return out


def _restarted_after(obs: Observation, session: Session) -> bool:
    """A service was restarted after this session's service died, long enough before the run ended for
    it to close the session (it does so from its storage, with reason service_restarted)."""
    return any(
        killed >= session.start and restarted + EVENT_WITHIN_S <= obs.end_sim
        for killed, restarted in obs.service_outages
    )


def _service_connected(obs: Observation, treadmill: int, at: float) -> bool:
    """The service was connected to the treadmill (it had come up at least LINK_SETUP_S before)."""
    states = [p for i, leaf, p in obs.messages if i == treadmill and leaf == "state" and isinstance(p, dict)]
    connected_before = [p for p in states if obs.sim_from_iso(p["updated_at"]) <= at - LINK_SETUP_S]
    return bool(connected_before) and bool(connected_before[-1].get("connected"))


def judge_unexplained_starts(
    obs: Observation, sessions: list[Session], belts: dict[int, Belt]
) -> list[Violation]:
    """A belt the service started outside any session the broker heard of: a lost session_started, or
    a start from nowhere."""
    out = []
    for tm, belt in belts.items():
        windows = [
            (s.start - 1.0, (s.end if s.end is not None else obs.end_sim) + 1.0)
            for s in sessions
            if s.treadmill == tm
        ]
        for entry in belt.entries:
            started_by_service = entry["source"] == "client" and entry["state"] == "running"
            if (
                started_by_service
                and float(entry["target_kmh"]) > 0
                and not in_any(float(entry["time"]), windows)
            ):
                out.append(Violation(
                    "event-lost", tm, f"the service ran the belt at t={entry['time']:.2f} outside every "
                    "session the broker announced",
                ))  # fmt: skip
                break
    return out


def judge(obs: Observation) -> tuple[list[Session], list[Violation]]:
    belts = {tm: Belt(entries) for tm, entries in obs.records.items()}
    sessions, violations = sessions_of(obs)
    for session in sessions:
        violations += judge_session(obs, session, belts[session.treadmill])
    violations += judge_restarts(obs, belts)
    violations += judge_events(obs, sessions)
    violations += judge_unexplained_starts(obs, sessions, belts)
    return sessions, violations

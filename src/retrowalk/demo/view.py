"""What `retrowalk demo` shows: a live panel (rich) or plain lines, fed by everything the service publishes.

Both views get the same items a kiosk gets over MQTT (telemetry, events, the summary), through the
service's observer, so what the demo shows is what a kiosk would show. Event lines (phase changes,
corrections, warnings, the end) are printed by both; the live view adds a panel with a progress bar
toward the duration cap and the actual vs allowed speed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from retrowalk.mqtt import payloads as p

__all__ = [
    "CUES",
    "CUE_EVERY_S",
    "PHASE_TEXT",
    "PLAIN_LINE_EVERY_S",
    "DemoView",
    "LiveView",
    "PlainView",
    "SessionPicture",
    "clock_text",
    "cue_at",
    "progress_text",
    "summary_line",
]

# The seed article's safety advice, shown one at a time while walking (rotating every CUE_EVERY_S).
CUES = (
    "Hold the handrails.",
    "Small, controlled steps.",
    "Engage your core.",
    "Keep your spine neutral.",
    "Go slow: the belt speeds up only gradually.",
)
CUE_EVERY_S = 30.0
PLAIN_LINE_EVERY_S = 30.0  # walked seconds between progress lines in plain mode

PHASE_TEXT = {
    "idle": "waiting",
    "armed": "starting the belt",
    "familiarise": "familiarise (holding the start speed)",
    "ramp": "ramp (speeding up gradually)",
    "steady": "steady",
    "cool_down": "cool-down",
    "paused": "paused",
    "finished": "finished",
    "aborted": "stopped",
}


def clock_text(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def cue_at(elapsed_s: float) -> str:
    return CUES[int(elapsed_s // CUE_EVERY_S) % len(CUES)]


@dataclass
class SessionPicture:
    """Everything known about the demo treadmill's session so far."""

    plan: p.PlanInfo | None = None
    latest: p.Telemetry | None = None
    phase: str = "idle"
    corrections: int = 0
    warnings: list[int] = field(default_factory=list)
    ended: p.SessionEnded | None = None
    summary: p.SessionSummary | None = None
    link_lost: bool = False

    @property
    def cap_s(self) -> float | None:
        return float(self.plan.duration_cap_s) if self.plan is not None else None

    @property
    def walked_s(self) -> float:
        return self.latest.elapsed_s if self.latest is not None and self.latest.session_id else 0.0


class DemoView:
    """Turns published items into event lines; subclasses decide how progress is drawn."""

    def __init__(self) -> None:
        self.picture = SessionPicture()
        self.summary_seen = asyncio.Event()
        self._last_cue = ""

    def __call__(self, treadmill_id: str, item: object) -> None:
        """The service observer's callback (see `CallbackPublisher`); never raises into the service."""
        picture = self.picture
        match item:
            case p.Telemetry():
                picture.latest = item
                picture.phase = item.phase
                self.progress(item)
            case p.SessionStarted():
                picture.plan = item.plan
                plan = item.plan
                self.line(
                    f"session started for {item.user_id}: start {p.kmh_text(plan.start_speed_kmh)} km/h, "
                    f"at most {p.kmh_text(plan.max_speed_kmh)} km/h, +{p.kmh_text(plan.ramp_step_kmh)} km/h "
                    f"every {plan.ramp_interval_s} s, cap {clock_text(plan.duration_cap_s)}"
                )
                for fitted in plan.fitted_to_grid.lines() if plan.fitted_to_grid else []:
                    self.line(fitted)
            case p.PhaseChanged():
                picture.phase = item.to_phase
                self.line(f"phase: {PHASE_TEXT.get(item.to_phase, item.to_phase)}")
            case p.CapWarning():
                picture.warnings.append(item.remaining_s)
                self.line(f"warning: {item.remaining_s} s left before the cap, get ready to slow down")
            case p.OverspeedCorrected():
                picture.corrections += 1
                self.line(f"ENFORCED: {item.sentence()}")
            case p.LinkLost():
                picture.link_lost = True
                self.line(f"link to the treadmill lost: {item.detail or 'no detail'}")
            case p.Availability(root="online") if picture.link_lost:
                # What happens next is not an event of its own: on every reconnect the service stops
                # the belt first, whatever it was doing, and a session never resumes by itself.
                picture.link_lost = False
                self.line("link to the treadmill back: retrowalk stops the belt first and does not resume")
            case p.SafetyKeyPulled():
                self.line("the safety key was pulled: the belt stopped")
            case p.OrphanedBeltStopped():
                self.line(
                    f"ENFORCED: the belt was moving at {item.speed_kmh:.1f} km/h with no session: stopped"
                )
            case p.SessionEnded():
                picture.ended = item
                detail = f" ({item.detail})" if item.detail else ""
                self.line(f"session ended: {item.reason}{detail}")
            case p.SessionSummary():
                picture.summary = item
                self.line(summary_line(item))
                self.summary_seen.set()

    def cue_for(self, t: p.Telemetry) -> str | None:
        """The cue to show now, or None outside a walking phase."""
        resting = ("idle", "armed", "paused", "finished", "aborted")
        # The picture's phase is newer than the last sample's after a phase change between samples.
        if not t.session_id or t.phase in resting or self.picture.phase in resting:
            return None
        return cue_at(t.elapsed_s)

    def line(self, text: str) -> None:
        raise NotImplementedError

    def progress(self, t: p.Telemetry) -> None:
        raise NotImplementedError

    def note(self, text: str) -> None:
        """Something the demo itself says (set-up, topics), not from the service."""
        self.line(text)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def progress_text(walked_s: float, cap_s: float | None, phase: str) -> str:
    """' of 5:00 (40 %)' while walking toward the cap; after it, the cool-down (which the cap excludes)."""
    if cap_s is None:
        return ""
    if phase == "cool_down" or walked_s >= cap_s:
        return f", cap {clock_text(cap_s)} reached: cool-down"
    return f" of {clock_text(cap_s)} ({100 * walked_s / cap_s:.0f} %)"


def summary_line(s: p.SessionSummary) -> str:
    return (
        f"summary: {s.end_reason}, walked {clock_text(s.walked_s)} ({s.walked_s:.0f} s), "
        f"{s.distance_m:.0f} m, top speed {s.max_speed_kmh:.1f} km/h, "
        f"{s.overspeed_corrections} overspeed correction(s)"
    )


class PlainView(DemoView):
    """One line per event and a progress line every PLAIN_LINE_EVERY_S walked seconds (CI, pipes)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self._out = out
        self._next_line_at = 0.0

    def line(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def progress(self, t: p.Telemetry) -> None:
        if not t.session_id or t.elapsed_s < self._next_line_at:
            return
        self._next_line_at = (t.elapsed_s // PLAIN_LINE_EVERY_S + 1) * PLAIN_LINE_EVERY_S
        cap = self.picture.cap_s
        of_cap = progress_text(t.elapsed_s, cap, t.phase)
        cue = self.cue_for(t)
        self.line(
            f"  {clock_text(t.elapsed_s)}{of_cap}  {t.phase:<11} belt {t.speed_kmh:4.2f} km/h "
            f"(allowed {t.allowed_speed_kmh:.2f})" + (f"  {cue}" if cue else "")
        )


class LiveView(DemoView):
    """A rich Live panel redrawn a few times a second; event lines scroll above it."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self._console = console or Console()
        self._live = Live(self._render(), console=self._console, refresh_per_second=4, transient=False)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.update(self._render(), refresh=True)
        self._live.stop()

    def line(self, text: str) -> None:
        style = "bold red" if text.startswith("ENFORCED") else "yellow" if text.startswith("warning") else ""
        self._live.console.print(Text(text, style=style))

    def progress(self, t: p.Telemetry) -> None:
        self._live.update(self._render())

    def _render(self) -> Group:
        picture = self.picture
        t = picture.latest
        cap = picture.cap_s or 300.0
        walked = picture.walked_s
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        bar = ProgressBar(total=cap, completed=min(walked, cap), width=40)
        table.add_row(
            "time", Group(bar, Text(clock_text(walked) + progress_text(walked, cap, picture.phase)))
        )
        if t is not None:
            over = t.speed_kmh > t.allowed_speed_kmh + 0.05
            speed = Text(f"{t.speed_kmh:4.2f} km/h", style="bold red" if over else "bold green")
            speed.append(f"   allowed {t.allowed_speed_kmh:.2f} km/h", style="")
            table.add_row("belt", speed)
        table.add_row("phase", PHASE_TEXT.get(picture.phase, picture.phase))
        if picture.corrections:
            table.add_row("enforced", Text(f"{picture.corrections} overspeed correction(s)", style="red"))
        if picture.warnings and picture.phase in ("familiarise", "ramp", "steady"):
            # A warning is about the time before the cap; once past it, it would be stale.
            table.add_row("cap", Text(f"{picture.warnings[-1]} s left", style="yellow"))
        cue = self.cue_for(t) if t is not None else None
        if cue:
            table.add_row("cue", Text(cue, style="cyan"))
        return Group(Text("retrowalk demo: beginner session", style="bold"), table)

"""`retrowalk session start|stop`: one guided session at a terminal, through the same service code.

The session runs in this process; `session stop` (from another terminal) sends it SIGINT, which stops
the belt before the process exits, and the session ends as ``stopped_at_terminal``. The pid file sits
next to the history database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from argparse import Namespace
from pathlib import Path

from retrowalk.config import Settings
from retrowalk.errors import RefusedError, RetrowalkError
from retrowalk.locks import controller_locks
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.service.app import Service
from retrowalk.service.publish import CallbackPublisher
from retrowalk.session.events import EndReason


def pid_file(settings: Settings) -> Path:
    return settings.service.storage.with_name(settings.service.storage.name + ".session.pid")


def stop(settings: Settings) -> int:
    path = pid_file(settings)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        print(f"no session is running for this configuration (no {path})", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        print("the session process is gone already; removed its stale pid file", file=sys.stderr)
        return 1
    print(f"asked session process {pid} to stop the belt and end", file=sys.stderr)
    return 0


def parse_screening(text: str, user: str) -> mc.ScreeningCommand:
    parts = [x.strip().lower() for x in text.split(",")]
    if len(parts) != 4 or not parts[0].isdigit() or any(x not in ("yes", "no") for x in parts[1:]):
        raise RefusedError("--screening takes AGE,OA,BALANCE,SURGERY, e.g. '52,no,no,no'")
    oa, balance, surgery = (x == "yes" for x in parts[1:])
    return mc.ScreeningCommand(
        command_id="terminal-screening",
        type="screening",
        user_id=user,
        age=int(parts[0]),
        severe_knee_oa=oa,
        ligament_injury=oa,
        balance_disorder_or_dizziness=balance,
        recent_knee_surgery=surgery,
    )


def ask_screening(user: str) -> mc.ScreeningCommand:
    if not sys.stdin.isatty():
        raise RefusedError(
            f"no screening answers on record for {user!r}: "
            "answer them with --screening AGE,OA,BALANCE,SURGERY"
        )
    print("Before a first session, please answer (a 'yes' means: ask a clinician first):")

    def yes(question: str) -> str:
        while (answer := input(f"  {question} [yes/no] ").strip().lower()) not in ("yes", "no"):
            pass
        return answer

    age = input("  Your age in years: ").strip()
    oa = yes("Severe knee osteoarthritis or a ligament injury?")
    balance = yes("Balance problems or dizziness?")
    surgery = yes("Knee surgery recently?")
    return parse_screening(f"{age},{oa},{balance},{surgery}", user)


class _Progress:
    """Prints one line per event and a progress line every few seconds."""

    def __init__(self) -> None:
        self.ended: p.SessionEnded | None = None
        self.summary: p.SessionSummary | None = None
        self._last_line = 0.0
        self.done = asyncio.Event()

    def __call__(self, treadmill_id: str, item: object) -> None:
        match item:
            case p.Telemetry():
                if item.session_id and item.elapsed_s - self._last_line >= 5:
                    self._last_line = item.elapsed_s
                    left = f", {item.remaining_s:.0f} s left" if item.remaining_s is not None else ""
                    print(
                        f"  {item.phase:<11} belt {item.speed_kmh:4.1f} km/h "
                        f"(allowed {item.allowed_speed_kmh:.1f}), walked {item.elapsed_s:.0f} s{left}"
                    )
            case p.SessionStarted():
                print(
                    f"session started for {item.user_id}: start {item.plan.start_speed_kmh} km/h, top "
                    f"{item.plan.max_speed_kmh} km/h, {item.plan.duration_cap_s // 60} min. "
                    "Hold the handrails; small, controlled steps."
                )
            case p.PhaseChanged():
                print(f"phase: {item.to_phase}")
            case p.CapWarning():
                print(f"{item.remaining_s} s to go")
            case p.OverspeedCorrected():
                print(f"belt too fast ({item.measured_kmh:.1f} km/h): slowed to {item.commanded_kmh:.1f}")
            case p.SessionEnded():
                self.ended = item
                print(f"session ended: {item.reason}" + (f" ({item.detail})" if item.detail else ""))
            case p.SessionSummary():
                self.summary = item
                self.done.set()
                print(
                    f"summary: walked {item.walked_s:.0f} s, {item.distance_m:.0f} m, top speed "
                    f"{item.max_speed_kmh:.1f} km/h"
                )


def run(settings: Settings, args: Namespace) -> int:
    treadmills = [t for t in settings.treadmills if args.treadmill in (None, t.id)][:1]
    if not treadmills:
        raise RefusedError(f"no treadmill {args.treadmill!r} in the configuration")
    local = settings.model_copy(update={"treadmills": treadmills, "broker": None})
    # A `serve` on the same storage, or anything driving this treadmill, must be refused before we connect.
    with controller_locks(settings, treadmills):
        return asyncio.run(_run(local, treadmills[0].id, args))


async def _run(settings: Settings, treadmill_id: str, args: Namespace) -> int:
    progress = _Progress()
    service = Service(settings, observer=CallbackPublisher(progress))
    pid_path = pid_file(settings)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.write_text(str(os.getpid()))
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        how = "Ctrl-C or 'retrowalk session stop'" if sig is signal.SIGINT else sig.name
        service.stopping(
            EndReason.TERMINAL_STOP, f"stopped at the terminal ({how}); the belt was stopped first"
        )
        main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        async with asyncio.TaskGroup() as group:
            service_task = group.create_task(service.run(), name="service")
            try:
                await _drive(service, treadmill_id, args, progress)
            finally:
                service_task.cancel()
    except asyncio.CancelledError:
        print("stopped: the belt was told to stop before exiting")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(OSError):
            pid_path.unlink()
    return 0 if progress.ended is not None and progress.ended.reason == "completed" else 1


async def _drive(service: Service, treadmill_id: str, args: Namespace, progress: _Progress) -> None:
    runner = service.runners[treadmill_id]
    print(f"connecting to treadmill {treadmill_id} ...")
    async with asyncio.timeout(service.settings.link.scan_timeout_s * 3 + 30):
        await runner.ready.wait()
    store = service.store
    if store.latest_screening(args.user) is None:
        answers = parse_screening(args.screening, args.user) if args.screening else ask_screening(args.user)
        await service.router.handle_command(treadmill_id, answers)
    plan = None
    if args.minutes is not None or args.max_speed is not None:
        plan = mc.PlanRequest(
            duration_cap_s=round(args.minutes * 60) if args.minutes is not None else None,
            max_speed_kmh=args.max_speed,
        )
    try:
        await service.router.handle_command(
            treadmill_id,
            mc.StartCommand(command_id="terminal-start", type="start", user_id=args.user, plan=plan),
        )
    except RetrowalkError as err:
        raise RefusedError(f"session not started: {err}") from None
    await progress.done.wait()

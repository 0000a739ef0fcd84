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
from argparse import ArgumentTypeError, Namespace
from collections.abc import Generator
from pathlib import Path

from retrowalk.cli import pain_prompt
from retrowalk.cli.arg_types import ScreeningAnswers, screening_answers
from retrowalk.config import Settings
from retrowalk.errors import LinkError, RefusedError, RetrowalkError
from retrowalk.locks import controller_locks
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.service.app import Service
from retrowalk.service.publish import CallbackPublisher
from retrowalk.session.events import EndReason

__all__ = [
    "ask_screening",
    "ask_screening_on_loop",
    "connect_wait_s",
    "not_found_sentence",
    "parse_screening",
    "pid_file",
    "refuse_unless_cleared",
    "run",
    "screening_command",
    "stop",
]


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
    except PermissionError:
        raise RefusedError(
            f"process {pid} named in {path} belongs to another user; stop it as that user"
        ) from None
    print(f"asked session process {pid} to stop the belt and end", file=sys.stderr)
    return 0


def parse_screening(text: str, user: str) -> mc.ScreeningCommand:
    """The answers typed as AGE,OA,BALANCE,SURGERY; a refusal says what is wrong with them."""
    try:
        return screening_command(screening_answers(text), user)
    except ArgumentTypeError as err:
        raise RefusedError(str(err)) from None


def screening_command(answers: ScreeningAnswers, user: str) -> mc.ScreeningCommand:
    return mc.ScreeningCommand(
        command_id="terminal-screening",
        type="screening",
        user_id=user,
        age=answers.age,
        severe_knee_oa=answers.severe_knee_oa_or_ligament_injury,
        ligament_injury=answers.severe_knee_oa_or_ligament_injury,
        balance_disorder_or_dizziness=answers.balance_disorder_or_dizziness,
        recent_knee_surgery=answers.recent_knee_surgery,
    )


def _screening_dialogue(user: str) -> Generator[str, str, mc.ScreeningCommand]:
    """The screening questions: yields each question, is sent each answer, returns the command."""
    age = (yield "  Your age in years: ").strip()
    answers = [age]
    for question in (
        "Severe knee osteoarthritis or a ligament injury?",
        "Balance problems or dizziness?",
        "Knee surgery recently?",
    ):
        answer = ""
        while answer not in ("yes", "no"):
            answer = (yield f"  {question} [yes/no] ").strip().lower()
        answers.append(answer)
    return parse_screening(",".join(answers), user)


def _screening_at_terminal(user: str) -> Generator[str, str, mc.ScreeningCommand]:
    if not sys.stdin.isatty():
        raise RefusedError(
            f"no screening answers on record for {user!r}: "
            "answer them with --screening AGE,OA,BALANCE,SURGERY"
        )
    print("Before a first session, please answer (a 'yes' means: ask a clinician first):")
    return _screening_dialogue(user)


def ask_screening(user: str) -> mc.ScreeningCommand:
    """The screening questions at a terminal, for `retrowalk user screening` (no event loop runs there)."""
    dialogue = _screening_at_terminal(user)
    try:
        question = next(dialogue)
        while True:
            question = dialogue.send(input(question))
    except StopIteration as done:
        answered: mc.ScreeningCommand = done.value
        return answered


async def ask_screening_on_loop(user: str) -> mc.ScreeningCommand:
    """The same questions for `session start`, read by the event loop: the treadmill connects (and a
    link's timers run) while the person answers, instead of everything waiting on a blocking read."""
    dialogue = _screening_at_terminal(user)
    async with pain_prompt.terminal_lines() as lines:
        assert lines is not None  # stdin is a terminal: _screening_at_terminal checked
        try:
            question = next(dialogue)
            while True:
                print(question, end="", flush=True)
                answer = await lines.get()
                if answer is None:
                    raise RefusedError(
                        f"no screening answers for {user!r}: the terminal closed before all were given"
                    )
                question = dialogue.send(answer)
        except StopIteration as done:
            answered: mc.ScreeningCommand = done.value
            return answered


def refuse_unless_cleared(service: Service, args: Namespace) -> None:
    """Before connecting: a person the screening or the pain rule holds back learns why, and the commands
    that unblock them (the treadmill need not be reached to know that no session may start)."""
    from retrowalk.cli.user_commands import screening_status

    decision = screening_status(service.store, args.user)
    where = f"--config {args.config} --user {args.user}"
    if not decision.allowed:
        raise RefusedError(
            f"session not started: user {args.user!r} cannot start a session: {decision.reason}; if a "
            f"screening answer was wrong, correct it with 'retrowalk user screening {where} --answers "
            "AGE,OA,BALANCE,SURGERY', and once a clinician has cleared the person, record it with "
            f"'retrowalk user clear {where} --by NAME'"
        )
    progression, _ = service.router.progression_for(args.user)
    if progression.plan is None:  # swelling, a knee giving way, severe pain, repeated regressions
        raise RefusedError(
            f"session not started: user {args.user!r} should see a clinician before the next session: "
            f"{'; '.join(progression.reasons)}; once a clinician has cleared the person, record it with "
            f"'retrowalk user clear {where} --by NAME'"
        )


def connect_wait_s(settings: Settings) -> float:
    """How long a terminal session waits for its treadmill: two whole attempts to find and connect it."""
    link = settings.link
    return 2 * (link.scan_timeout_s + link.connect_timeout_s) + link.backoff_initial_s


def not_found_sentence(settings: Settings, treadmill_id: str, within: float) -> str:
    spec = next(t for t in settings.treadmills if t.id == treadmill_id)
    which = spec.address or (f"named {spec.name!r}" if spec.name else "any FTMS treadmill")
    return (
        f"treadmill {treadmill_id} ({which}) was not found or did not connect within {within:.0f} s: "
        "check that it is switched on, in range and not connected to another app (a phone's fitness app "
        "holds the only connection on most treadmills), and that the address in the configuration is one "
        "'retrowalk scan' lists"
    )


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
                        f"  {item.phase:<11} belt {p.kmh_text(item.speed_kmh):>4} km/h "
                        f"(allowed {p.kmh_text(item.allowed_speed_kmh)}), walked {item.elapsed_s:.0f} s{left}"
                    )
            case p.SessionStarted():
                print(
                    f"session started for {item.user_id}: start {item.plan.start_speed_kmh} km/h, top "
                    f"{item.plan.max_speed_kmh} km/h, {item.plan.duration_cap_s // 60} min. "
                    "Hold the handrails; small, controlled steps."
                )
                for fitted in item.plan.fitted_to_grid.lines() if item.plan.fitted_to_grid else []:
                    print(fitted)
            case p.PhaseChanged():
                print(f"phase: {item.to_phase}")
            case p.CapWarning():
                print(f"{item.remaining_s} s to go")
            case p.OverspeedCorrected():
                print(f"too fast: {item.sentence()}")
            case p.SessionEnded():
                self.ended = item
                print(f"session ended: {item.reason}" + (f" ({item.detail})" if item.detail else ""))
            case p.SessionSummary():
                self.summary = item
                self.done.set()
                print(
                    f"summary: walked {item.walked_s:.0f} s, {item.distance_m:.0f} m, top speed "
                    f"{p.kmh_text(item.max_speed_kmh)} km/h"
                )


def run(settings: Settings, args: Namespace) -> int:
    treadmills = [t for t in settings.treadmills if args.treadmill in (None, t.id)][:1]
    if not treadmills:
        known = ", ".join(t.id for t in settings.treadmills)
        raise RefusedError(f"no treadmill {args.treadmill!r} in the configuration; use one of: {known}")
    local = settings.model_copy(update={"treadmills": treadmills, "broker": None})
    progress = _Progress()
    # A `serve` on the same storage, or anything driving this treadmill, must be refused before we connect
    # (and before the person is asked anything).
    with controller_locks(settings, treadmills):
        # Asked before connecting: the person is at the treadmill now, not once the belt is about to move.
        before = pain_prompt.before_session(args.user, args.pain_before)
        code = asyncio.run(_run(local, treadmills[0].id, args, progress, before))
    if progress.ended is not None:
        pain_prompt.after_session(local, args.config, args.user, progress.ended.session_id)
    return code


async def _run(
    settings: Settings,
    treadmill_id: str,
    args: Namespace,
    progress: _Progress,
    before: mc.PainReportCommand | None,
) -> int:
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
                await _drive(service, treadmill_id, args, progress, before)
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


async def _drive(
    service: Service,
    treadmill_id: str,
    args: Namespace,
    progress: _Progress,
    before: mc.PainReportCommand | None,
) -> None:
    # The screening first: a person without answers learns it at once, not after the connect.
    stored = service.store.latest_screening(args.user)
    if args.screening:
        answers = screening_command(args.screening, args.user)
        # Different answers correct the ones on record (a wrong "yes" must not lock a person out); the
        # same ones are not recorded again, since newer answers would void a clearance given after them.
        if stored is None or stored.answers != answers.model_dump(exclude={"command_id", "type", "user_id"}):
            await service.router.handle_command(treadmill_id, answers)
    elif stored is None:
        await service.router.handle_command(treadmill_id, await ask_screening_on_loop(args.user))
    refuse_unless_cleared(service, args)
    runner = service.runners[treadmill_id]
    print(f"connecting to treadmill {treadmill_id} ...")
    within = connect_wait_s(service.settings)
    try:
        async with asyncio.timeout(within):
            await runner.ready.wait()
    except TimeoutError:
        raise LinkError(not_found_sentence(service.settings, treadmill_id, within)) from None
    plan = None
    if args.minutes is not None or args.max_speed is not None:
        plan = mc.PlanRequest(
            duration_cap_s=round(args.minutes * 60) if args.minutes is not None else None,
            max_speed_kmh=args.max_speed,
        )
    if before is not None:
        # Given ahead of the start, as a kiosk gives it: kept for this person on this treadmill, replacing
        # an older score kept there (one given to a `serve` that has since stopped), and the start takes
        # it for its session, so the session has this one baseline.
        await service.router.handle_command(treadmill_id, before)
    try:
        await service.router.handle_command(
            treadmill_id,
            mc.StartCommand(command_id="terminal-start", type="start", user_id=args.user, plan=plan),
        )
    except RetrowalkError as err:
        raise RefusedError(f"session not started: {err}") from None
    async with pain_prompt.during_session(service.router, treadmill_id, args.user):
        await progress.done.wait()

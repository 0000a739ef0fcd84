"""The pain questions of `retrowalk session start`: before the session, during it, and after it.

The progression rule grows a person's sessions only on pain reports (before, after, next morning), so a
terminal session asks for them where a kiosk would: a score before walking, a prompt during the session
(where pain above 5 stops the belt, as over MQTT), a score after it, and then what the next session will
be and what it waits for. Reports go through the service's :class:`CommandRouter`, like a kiosk's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from retrowalk.cli.user_commands import next_plan_lines, recorded_for, validated
from retrowalk.config import Settings
from retrowalk.errors import RetrowalkError
from retrowalk.mqtt import commands as mc
from retrowalk.service.commands import CommandRouter
from retrowalk.session.safety_constants import STOP_PAIN
from retrowalk.storage import Store

__all__ = [
    "after_session",
    "ask_score",
    "before_session",
    "during_session",
    "pain_command",
    "terminal_lines",
]


def pain_command(user: str, when: str, score: int, option: str) -> mc.PainReportCommand:
    """A pain report checked as the MQTT API checks one; refused naming ``option``."""
    command = validated(
        {"type": "pain_report", "user_id": user, "when": when, "pain": score},
        {"pain": option, "user_id": "--user"},
        refusal="session not started",
    )
    assert isinstance(command, mc.PainReportCommand)
    return command


def ask_score(question: str) -> int | None:
    """A 0-10 score typed at a terminal; None when the person skips (Enter or Ctrl-D) or there is no
    terminal."""
    if not sys.stdin.isatty():
        return None
    while True:
        try:
            answer = input(question).strip()
        except EOFError:
            print()  # the prompt's line ends here, not in the next output
            return None
        if not answer:
            return None
        if answer.isdigit() and 0 <= int(answer) <= 10:
            return int(answer)
        print("  a whole number from 0 (no pain) to 10 (worst imaginable), or Enter to skip")


def before_session(user: str, score: int | None) -> mc.PainReportCommand | None:
    """The score before walking (the baseline the next morning is compared with): given, or asked."""
    if score is None:
        score = ask_score("Knee pain right now, before walking, 0-10 (Enter to skip): ")
    return None if score is None else pain_command(user, "before", score, "--pain-before")


@contextlib.asynccontextmanager
async def terminal_lines() -> AsyncIterator[asyncio.Queue[str | None] | None]:
    """Lines typed at the terminal, read by the event loop (never a blocking read on it: the link and the
    engine keep running while the person thinks). None instead of a queue when stdin is no terminal or
    pipe (a file or /dev/null has nothing to say); None in the queue: end of input."""
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        yield None
        return
    if not (os.isatty(fd) or stat.S_ISFIFO(mode)):
        yield None
        return
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    pending = bytearray()

    def readable() -> None:
        data = os.read(fd, 4096)
        if not data:
            loop.remove_reader(fd)
            lines.put_nowait(None)
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            lines.put_nowait(line.decode(errors="replace").strip())

    loop.add_reader(fd, readable)
    try:
        yield lines
    finally:
        loop.remove_reader(fd)


@contextlib.asynccontextmanager
async def during_session(router: CommandRouter, treadmill_id: str, user: str) -> AsyncIterator[None]:
    """While the body runs, each score typed and Entered is a pain report during the session."""
    async with terminal_lines() as lines:
        if lines is None:
            yield
            return
        print(f"Type your knee pain, 0-10, and Enter at any time; above {STOP_PAIN} stops the belt.")
        async with asyncio.TaskGroup() as group:
            reader = group.create_task(_report_lines(router, treadmill_id, user, lines), name="pain-prompt")
            try:
                yield
            finally:
                reader.cancel()


async def _report_lines(
    router: CommandRouter, treadmill_id: str, user: str, lines: asyncio.Queue[str | None]
) -> None:
    while (line := await lines.get()) is not None:
        if not line:
            continue
        if not (line.isdigit() and 0 <= int(line) <= 10):
            print(f"  {line!r} is not a pain score: type a whole number from 0 to 10 and Enter")
            continue
        score = int(line)
        try:
            await router.handle_command(treadmill_id, pain_command(user, "during", score, "pain"))
        except RetrowalkError as err:
            print(f"  pain {score}/10 not recorded: {err}")
            continue
        if score > STOP_PAIN:
            print(f"  pain {score}/10 noted: the belt is stopping and the session ends")
        else:
            print(f"  pain {score}/10 noted")


def after_session(settings: Settings, config: Path, user: str, session_id: str | None) -> None:
    """Ask for the pain after the session, then say what the next session will be and what it waits for."""
    store = Store(settings.service.storage)
    try:
        router = CommandRouter(store, settings.ceilings, settings.default_plan)
        try:
            score = ask_score("Knee pain now, after the session, 0-10 (Enter to skip): ")
        except KeyboardInterrupt:
            # Ctrl-C ends the command (exit 130); the session is recorded, only this score is not.
            print(
                "\nafter pain not recorded: give it later with "
                f"retrowalk user pain --config {config} --user {user} --when after SCORE"
            )
            raise
        if score is not None and session_id:
            command = pain_command(user, "after", score, "pain")
            router.record(command.model_copy(update={"session_id": session_id}))
            print(f"after pain {score}/10 recorded for {user}, {recorded_for(store, user, session_id)}")
        lines = next_plan_lines(router, user, config, [t.id for t in settings.treadmills])
    finally:
        store.close()
    print("\n".join(lines))
    if not any("--when next-morning" in line for line in lines):
        print(
            "tomorrow morning, report how the knee feels: "
            f"retrowalk user pain --config {config} --user {user} --when next-morning SCORE"
        )

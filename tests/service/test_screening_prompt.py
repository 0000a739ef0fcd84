"""The screening questions of `session start` wait for the person without stopping the event loop: the
treadmill connects while they think (a blocking read on the loop froze the link and the engine)."""

from __future__ import annotations

import asyncio
import os
import pty
import threading
from argparse import Namespace
from pathlib import Path

import pytest

from retrowalk.cli import local_session
from retrowalk.errors import RefusedError
from tests.plugins.virtual_adapter import SimulatorFactory
from tests.service.harness import running_rig

# A person who says yes to a knee question: recorded, then refused, so no belt moves in this test.
ANSWERS = b"50\nyes\nno\nno\n"


async def test_the_treadmill_connects_while_the_screening_questions_wait_for_answers(
    simulator_factory: SimulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main_fd, terminal_fd = pty.openpty()
    # Should the prompt block the loop, nothing below can type: this does, late, so the test fails
    # (the answers came before the treadmill connected) instead of hanging.
    late_typist = threading.Timer(20.0, os.write, (main_fd, ANSWERS))
    with os.fdopen(terminal_fd, "r") as terminal:
        monkeypatch.setattr("sys.stdin", terminal)
        try:
            async with running_rig(simulator_factory, tmp_path) as rig:
                store = rig.service.store
                args = Namespace(user="ana", screening=None, config=tmp_path / "home.toml")
                late_typist.start()
                drive = asyncio.create_task(
                    local_session._drive(rig.service, "tm0", args, local_session._Progress(), None),  # noqa: SLF001
                    name="terminal-session",
                )
                await rig.wait_connected("tm0")
                # Connected while the questions still wait: nothing typed, nothing recorded.
                assert not drive.done()
                assert store.latest_screening("ana") is None
                late_typist.cancel()
                os.write(main_fd, ANSWERS)
                with pytest.raises(RefusedError, match="cannot start a session"):
                    await asyncio.wait_for(drive, 10)
                latest = store.latest_screening("ana")
                assert latest is not None
                assert latest.answers["severe_knee_oa"] is True
        finally:
            late_typist.cancel()
            os.close(main_fd)

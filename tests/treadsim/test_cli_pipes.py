"""The command lines writing into a pipe whose reader has gone (``treadsim record --json | head``).

Each command runs as a real process whose stdout is a pipe with its reading end already closed, the
state `head` leaves behind once it has its lines: the first write fails, deterministically, whatever
the output's size. A shell reports 141 for a tool that SIGPIPE ended; these commands say the same,
and nothing on stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from retrowalk.stdout_pipe import EXIT_READER_GONE
from tests.plugins.virtual_adapter import SimulatorFactory

TREADSIM = [sys.executable, "-m", "treadsim.cli"]
RETROWALK = [sys.executable, "-m", "retrowalk.cli"]


async def run_into_closed_pipe(*command: str) -> tuple[int, str]:
    """Run ``command`` with stdout into a pipe nobody reads any more; its exit status and stderr."""
    reading, writing = os.pipe()
    os.close(reading)
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=writing, stderr=asyncio.subprocess.PIPE
        )
    finally:
        os.close(writing)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_treadsim_record_into_a_closed_pipe_ends_quietly(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(treadmills=1)
    for json_or_table in (["--json"], []):
        status, stderr = await run_into_closed_pipe(
            *TREADSIM, "record", "--bus", sim.bus_address, *json_or_table
        )
        assert stderr == ""
        assert status == EXIT_READER_GONE


@pytest.mark.parametrize(
    "command",
    [
        [*TREADSIM, "quirks"],
        [*TREADSIM, "actions"],
        [*RETROWALK, "check-config", "docs/examples/treadsim.toml"],
    ],
    ids=["treadsim quirks", "treadsim actions", "retrowalk check-config"],
)
async def test_short_outputs_into_a_closed_pipe_end_quietly(command: list[str]) -> None:
    status, stderr = await run_into_closed_pipe(*command)
    assert stderr == ""
    assert status == EXIT_READER_GONE


async def test_an_unrelated_broken_pipe_is_still_an_error() -> None:
    # A broken pipe that is not stdout's (a socket, a child's stdin) must not pass for a reader leaving.
    code = (
        "import sys\n"
        "from retrowalk.stdout_pipe import quiet_when_reader_leaves\n"
        "@quiet_when_reader_leaves\n"
        "def main() -> int:\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.exit(main())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "BrokenPipeError" in stderr.decode()

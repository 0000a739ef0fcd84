"""The tester console: in process (Simulator.perform), over D-Bus (perform_remote), and as the real
``treadsim`` command against a real ``treadsim serve`` subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from bleak import BleakScanner
from pyftms import MachineType, get_client

from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.bluez import ConsoleCommandError, SimulatorError, UnknownTreadmillError
from treadsim.console import describe_remote, perform_remote
from treadsim.console_actions import ACTIONS
from treadsim.model import BeltState, ChangeSource
from treadsim.server import Simulator, parse_quirk_selection, treadmill_address

TREADSIM = [sys.executable, "-m", "treadsim.cli"]


async def test_console_keys_move_the_model_and_bad_input_changes_nothing(
    simulator_factory: SimulatorFactory,
) -> None:
    sim = await simulator_factory(treadmills=1, acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    assert sim.perform(0, "set-speed", "2.0")["ok"]
    assert slot.treadmill.target_kmh == 2.0
    before = len(slot.treadmill.record)
    for action, argument in [
        ("press", "jump"),
        ("press", ""),
        ("set-speed", "fast"),
        ("set-speed", "nan"),
        ("set-speed", "99"),
        ("speed-up", "3"),
        ("key", "twist"),
        ("link", "cut"),
        ("teleport", ""),
    ]:
        with pytest.raises(ConsoleCommandError):
            sim.perform(0, action, argument)
    with pytest.raises(UnknownTreadmillError, match="no treadmill 1"):
        sim.perform(1, "press", "start")
    assert len(slot.treadmill.record) == before
    assert slot.treadmill.target_kmh == 2.0

    assert sim.perform(0, "press", "start")["ok"]
    await wait_until(lambda: slot.treadmill.speed_kmh == 2.0, 3, "2.0 km/h")
    sim.perform(0, "speed-down")
    assert slot.treadmill.target_kmh == pytest.approx(1.9)
    sim.perform(0, "key", "pull")
    assert slot.treadmill.speed_kmh == 0.0
    refused = sim.perform(0, "press", "start")
    assert refused["ok"] is False
    assert "safety key" in refused["detail"]
    assert slot.treadmill.state is BeltState.STOPPED
    sim.perform(0, "key", "insert")
    assert sim.perform(0, "press", "start")["ok"]
    state = sim.perform(0, "state")["state"]
    assert state["belt"] == "running"
    assert state["safety_key_in"] is True
    sources = [entry["source"] for entry in sim.record(0)]
    assert str(ChangeSource.SAFETY_KEY) in sources
    assert str(ChangeSource.CONSOLE) in sources


async def test_remote_console_runs_the_same_actions(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(treadmills=2, quirks=["1:ignores-speed"])
    described = await describe_remote(sim.bus_address)
    assert [t["address"] for t in described["treadmills"]] == [treadmill_address(0), treadmill_address(1)]
    assert described["treadmills"][1]["quirks"] == ["ignores-speed"]
    assert [a["name"] for a in described["actions"]] == list(ACTIONS)
    result = await perform_remote(sim.bus_address, 1, "set-speed", "4.5")
    assert result["ok"]
    assert sim.treadmill(1).treadmill.target_kmh == 4.5
    with pytest.raises(UnknownTreadmillError):
        await perform_remote(sim.bus_address, 7, "state")
    with pytest.raises(ConsoleCommandError, match="unknown console action"):
        await perform_remote(sim.bus_address, 0, "explode")
    with pytest.raises(SimulatorError, match="cannot reach"):
        await perform_remote("unix:path=/nonexistent/treadsim-bus", 0, "state")


async def test_link_faults_as_a_pyftms_client_sees_them(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(treadmills=1)
    slot = sim.treadmill(0)
    device = await BleakScanner.find_device_by_address(slot.address, timeout=3)
    assert device is not None
    lost = asyncio.Event()
    client = get_client(device, MachineType.TREADMILL, on_disconnect=lambda _c: lost.set())
    await client.connect()
    assert sim.perform(0, "link", "drop")["ok"]
    await asyncio.wait_for(lost.wait(), 3)
    assert not client.is_connected
    assert slot.peripheral.is_connected is False

    sim.perform(0, "link", "refuse")
    with pytest.raises(Exception, match="connection abort"):
        await client.connect()
    assert not slot.device.is_connected
    sim.perform(0, "link", "accept")
    await client.connect()
    assert client.is_connected

    lost.clear()
    sim.perform(0, "disappear")
    await asyncio.wait_for(lost.wait(), 3)
    assert sim.state(0)["present"] is False
    sim.perform(0, "return")
    assert await BleakScanner.find_device_by_address(slot.address, timeout=3) is not None
    await client.connect()
    await client.disconnect()


def test_quirk_selection_rules() -> None:
    assert parse_quirk_selection(["fast-notify", "1:ignores-speed", "1:fast-notify"], 2) == [
        ("fast-notify",),
        ("fast-notify", "ignores-speed"),
    ]
    with pytest.raises(SimulatorError, match="unknown quirk 'warp'"):
        parse_quirk_selection(["warp"], 1)
    with pytest.raises(SimulatorError, match="no treadmill 2"):
        parse_quirk_selection(["2:ignores-speed"], 2)
    with pytest.raises(SimulatorError, match="INDEX:NAME"):
        parse_quirk_selection(["x:ignores-speed"], 2)


async def _treadsim(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *TREADSIM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.slow
@pytest.mark.dbus
async def test_serve_subprocess_driven_by_console_subcommands() -> None:
    server = await asyncio.create_subprocess_exec(
        *TREADSIM,
        "serve",
        "--treadmills",
        "2",
        "--accel",
        "4",
        "--quirk",
        "1:fast-notify",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        first = (await asyncio.wait_for(server.stdout.readline(), 20)).decode().strip()
        name, _, address = first.partition("=")
        assert name == "DBUS_SYSTEM_BUS_ADDRESS"
        assert address.startswith("unix:path=")
        socket_path = Path(address.removeprefix("unix:path=").split(",")[0])
        assert os.path.exists(socket_path)  # noqa: ASYNC240 - a single stat, in a test

        code, out, _ = await _treadsim("list", "--bus", address)
        assert code == 0
        assert json.loads(out)["treadmills"][1]["quirks"] == ["fast-notify"]

        code, out, _ = await _treadsim("console", "--bus", address, "set-speed", "2.0", "-t", "1")
        assert code == 0
        assert json.loads(out)["ok"] is True
        # The bus address can also come from the environment, as a tester's shell would have it.
        env = {**os.environ, "TREADSIM_BUS_ADDRESS": address}
        code, out, _ = await _treadsim("console", "-t", "1", "press", "start", env=env)
        assert code == 0
        # The belt reaches its target (a positive event) before "it never went past it" is checked.
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            code, out, _ = await _treadsim("state", "--bus", address, "-t", "1")
            state = json.loads(out)
            if state["speed_kmh"] >= 1.99 or asyncio.get_running_loop().time() > deadline:
                break
        assert state["speed_kmh"] >= 1.99, state
        assert state["belt"] == "running"
        assert 0 < state["speed_kmh"] <= 2.0
        code, out, _ = await _treadsim("record", "--bus", address, "-t", "1", "--json")
        record = json.loads(out)
        assert any(e["source"] == "console" and e["state"] == "running" for e in record)
        assert max(e["speed_kmh"] for e in record) <= 2.0

        code, _, err = await _treadsim("console", "--bus", address, "-t", "9", "press", "stop")
        assert code == 1
        assert "no treadmill 9" in err
        code, _, err = await _treadsim("console", "--bus", address, "set-speed", "fast")
        assert code == 1
        assert "needs a number" in err
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(server.communicate(), 20)
    assert server.returncode == 0, stderr.decode()
    assert "shutting down" in stderr.decode()
    assert not os.path.exists(socket_path)  # noqa: ASYNC240
    code, _, err = await _treadsim("state", "--bus", address)
    assert code == 1
    assert "cannot reach" in err


async def test_a_crashed_clock_is_reported_not_hidden() -> None:
    sim = Simulator(treadmills=1)
    await sim.start()
    slot = sim.treadmill(0)

    def broken_tick(now: float) -> None:
        raise RuntimeError("model exploded")

    slot.peripheral.tick = broken_tick  # type: ignore[method-assign]
    assert sim.clock_task is not None
    await wait_until(lambda: sim.clock_task is not None and sim.clock_task.done(), 2, "the clock to crash")
    with pytest.raises(SimulatorError, match="model exploded"):
        await sim.close()

"""One controller per storage and per treadmill: a second `retrowalk serve` or `session start` is refused
before it touches the treadmill or the broker, and names the process that is already in control."""

from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

import pytest

from tests.mqtt.mqtt_broker import MOSQUITTO
from treadsim.server import treadmill_address

from .served import (
    SERVICE_ID,
    finished,
    home_with_broker,
    kiosk_on,
    reaped,
    retrowalk,
    treadsim,
    treadsim_serving,
    until,
    write_config,
)

# treadsim serve (a private dbus-daemon), a mosquitto and retrowalk, each a process of its own.
pytestmark = [pytest.mark.slow, pytest.mark.dbus, pytest.mark.mosquitto]

if not MOSQUITTO.exists():
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)", allow_module_level=True)

SINCE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
WHY = "stop it first, two controllers would take the treadmill and the broker connection from each other"


def refusal(pid: int, command: list[str], what: str) -> re.Pattern[str]:
    """The one line a refused second controller prints: who holds what, since when, and what to do."""
    holder = f"another retrowalk (pid {pid}, '{shlex.join(['retrowalk', *command])}', running since "
    return re.compile(
        re.escape(f"retrowalk: {holder}") + SINCE + re.escape(f") already controls {what}; {WHY}")
    )


def mqtt_connections(log: str) -> int:
    return log.count(f"as retrowalk-{SERVICE_ID} ")


async def test_a_second_serve_on_one_configuration_is_refused_and_the_first_keeps_its_session(
    tmp_path: Path,
) -> None:
    with home_with_broker(tmp_path) as home:
        bus, broker, storage = home.bus, home.broker, home.storage
        serve = ["serve", "--config", str(home.config)]
        async with kiosk_on(broker.port) as kiosk:
            with reaped(retrowalk(serve, bus)) as first:
                await kiosk.walking("ana", bus)
                assert mqtt_connections(broker.log()) == 1

                with reaped(retrowalk(serve, bus)) as second:
                    out, err = await finished(second, within=30)
                assert second.returncode == 2, err
                assert out == ""
                assert refusal(first.pid, serve, f"the storage {storage}").fullmatch(err.strip()), err
                assert "Traceback" not in err

                # The first still drives its session: fresh telemetry of the same session arrives after
                # the refusal, nothing ended, and the second never connected to the broker.
                seen = len(kiosk.messages)
                session_id = kiosk.events("session_started")[0]["session_id"]
                await kiosk.until(
                    lambda: any(
                        m.topic.endswith("/tm0/telemetry") and m.payload.get("session_id") == session_id
                        for m in kiosk.messages[seen:]
                    ),
                    10,
                    "telemetry of the running session after the refusal",
                )
                assert kiosk.events("session_ended") == []
                assert treadsim("state", bus=bus)["belt"] == "running"
                assert mqtt_connections(broker.log()) == 1
                assert first.poll() is None
                first.send_signal(signal.SIGTERM)
                _out, err = await finished(first, within=30)
            assert first.returncode == 0, err


async def test_session_start_is_refused_while_serve_holds_the_storage_or_the_treadmill(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "history.sqlite3"
    config = write_config(tmp_path / "home.toml", storage)
    # Another configuration, its own storage, the same treadmill written in lower case.
    other = write_config(
        tmp_path / "other.toml", tmp_path / "other.sqlite3", address=treadmill_address(0).lower()
    )
    serve = ["serve", "--config", str(config)]
    with treadsim_serving() as bus, reaped(retrowalk(serve, bus)) as first:
        await until(lambda: treadsim("state", bus=bus)["connected"], 60, "serve connected to the treadmill")

        start = ["session", "start", "--user", "ana", "--screening", "50,no,no,no", "--config"]
        with reaped(retrowalk([*start, str(config)], bus)) as same_storage:
            out, err = await finished(same_storage, within=30)
        assert same_storage.returncode == 2, err
        assert out == ""
        assert refusal(first.pid, serve, f"the storage {storage}").fullmatch(err.strip()), err

        with reaped(retrowalk([*start, str(other)], bus)) as same_treadmill:
            out, err = await finished(same_treadmill, within=30)
        assert same_treadmill.returncode == 2, err
        assert out == ""
        # The configuration writes addresses in capitals whatever case the file used.
        what = f"treadmill {treadmill_address(0).upper()}"
        assert refusal(first.pid, serve, what).fullmatch(err.strip()), err
        # Its own storage was not even created: the refusal came first.
        assert not (tmp_path / "other.sqlite3").exists()

        assert treadsim("state", bus=bus)["connected"]
        assert first.poll() is None
        first.send_signal(signal.SIGINT)
        _out, err = await finished(first, within=30)
    assert first.returncode == 0, err


async def test_a_lock_left_by_a_killed_process_does_not_block_the_next_start(tmp_path: Path) -> None:
    config = write_config(tmp_path / "home.toml", tmp_path / "history.sqlite3")
    serve = ["serve", "--config", str(config)]
    with treadsim_serving() as bus:
        lock = tmp_path / "history.sqlite3.lock"
        with reaped(retrowalk(serve, bus)) as crashed:
            await until(
                lambda: treadsim("state", bus=bus)["connected"], 60, "serve connected to the treadmill"
            )
            crashed.kill()  # SIGKILL: no handler runs; the lock files stay behind with its name in them
        assert lock.read_text().startswith(f"{crashed.pid}\n")
        with reaped(retrowalk(serve, bus)) as restarted:
            await until(lambda: lock.read_text().startswith(f"{restarted.pid}\n"), 30, "the lock taken over")
            await until(
                lambda: treadsim("state", bus=bus)["connected"], 60, "serve connected to the treadmill"
            )
            assert restarted.poll() is None
            restarted.send_signal(signal.SIGINT)
            _out, err = await finished(restarted, within=30)
        assert restarted.returncode == 0, err

"""Every refusal of the `retrowalk` command is one sentence that says what to do, with no traceback.

Arguments are refused by argparse before anything starts (checked through `main`); everything that
needs a configuration, a file or the system runs the real entry point in a subprocess, as a person does.
Refusals that need a treadmill are in tests/service/test_cli_refusals.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from retrowalk.cli import arg_types as cli_args
from retrowalk.cli import command_line as cli
from retrowalk.cli import main
from retrowalk.cli.failures import failure_sentence
from retrowalk.errors import RefusedError
from retrowalk.mqtt.commands import PlanRequest, ScreeningCommand
from tests.kiosk.browser.rig import kiosk_config

BIN = Path(sys.executable).parent


def retrowalk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "retrowalk"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def refused_with(result: subprocess.CompletedProcess[str], sentence: str) -> None:
    """The command failed with exactly this sentence as its last line, and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"retrowalk: {sentence}"


@pytest.fixture
def run_cli(
    cli_logging_restored: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`retrowalk ARGS` through `main`, in this process (faster than a subprocess on a busy machine)."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        status = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), status, out, err)

    return run


def argparse_refusal(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["scan", "--seconds", "-1"],
            "retrowalk scan: error: argument --seconds: '-1' is not a number from 0.5 to 300 seconds",
        ),
        (
            ["scan", "--seconds", "0"],
            "retrowalk scan: error: argument --seconds: '0' is not a number from 0.5 to 300 seconds",
        ),
        (
            ["scan", "--seconds", "nan"],
            "retrowalk scan: error: argument --seconds: 'nan' is not a number from 0.5 to 300 seconds",
        ),
        (
            ["scan", "--seconds", "1e9"],
            "retrowalk scan: error: argument --seconds: '1e9' is not a number from 0.5 to 300 seconds",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--minutes", "40"],
            "retrowalk session start: error: argument --minutes: '40' is not a number from 1 to 30 minutes",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--minutes", "inf"],
            "retrowalk session start: error: argument --minutes: 'inf' is not a number from 1 to 30 minutes",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--max-speed", "4"],
            "retrowalk session start: error: argument --max-speed: '4' is not a number from 0.5 to 3.5 km/h",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", ""],
            "retrowalk session start: error: argument --user: '' is not a user name: use 1 to 64 printable "
            "characters, not blank and not beginning or ending with a space",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", " ann"],
            "retrowalk session start: error: argument --user: ' ann' is not a user name: use 1 to 64 "
            "printable characters, not blank and not beginning or ending with a space",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "a\tb"],
            "retrowalk session start: error: argument --user: 'a\\tb' is not a user name: use 1 to 64 "
            "printable characters, not blank and not beginning or ending with a space",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--screening", "70,yes,no"],
            "retrowalk session start: error: argument --screening: '70,yes,no' has 3 answer(s); give four, "
            "AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--screening", "old,no,no,no"],
            "retrowalk session start: error: argument --screening: the age 'old' is not a whole number "
            "from 10 to 120; give AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--screening", "5,no,no,no"],
            "retrowalk session start: error: argument --screening: the age '5' is not a whole number "
            "from 10 to 120; give AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no",
        ),
        (
            ["session", "start", "-c", "x.toml", "--user", "ann", "--screening", "52,no,maybe,no"],
            "retrowalk session start: error: argument --screening: 'maybe' is not yes or no; give "
            "AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no",
        ),
    ],
)
def test_bad_arguments_are_refused_with_the_values_they_take(
    args: list[str], sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert argparse_refusal(args, capsys) == sentence


def test_a_missing_configuration_file(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    absent = tmp_path / "absent.toml"
    sentence = (
        f"{absent}: no such file; give the path of your configuration file (docs/configuration.md shows one)"
    )
    refused_with(retrowalk("check-config", str(absent)), sentence)  # once through the installed command
    for args in (["serve", "-c", str(absent)], ["session", "stop", "-c", str(absent)]):
        refused_with(run_cli(*args), sentence)


def test_a_corrupt_configuration_file(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[service]\nid = = 'x'\n")
    refused_with(
        run_cli("session", "start", "-c", str(broken), "--user", "ann"),
        f"{broken}: not valid TOML (Invalid value (at line 2, column 6)); correct the file there",
    )
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(128, 256)))
    refused_with(
        run_cli("check-config", str(binary)),
        f"{binary}: not a text file in UTF-8; give the TOML configuration file",
    )
    refused_with(
        run_cli("check-config", str(tmp_path)),
        f"{tmp_path}: cannot read it (Is a directory); check the path and its permissions",
    )


def write_config(tmp_path: Path, storage: Path, extra: str = "") -> Path:
    config = tmp_path / "home.toml"
    config.write_text(f'[service]\nstorage = "{storage}"\n\n[[treadmills]]\nid = "home"\n{extra}')
    return config


def test_a_storage_folder_that_does_not_exist(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    storage = tmp_path / "no-such-folder" / "history.sqlite3"
    config = write_config(tmp_path, storage)
    result = run_cli("serve", "-c", str(config))
    # Refused when the configuration is loaded, before anything opens the database or connects.
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "retrowalk: invalid configuration:",
        f"  {config}: service.storage: the directory {storage.parent} does not exist and retrowalk does not "
        "create it: create it, writable by the user retrowalk runs as, or point storage at an existing "
        "directory",
    ]
    assert not storage.parent.exists()


def test_a_storage_file_that_is_not_a_database(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    storage = tmp_path / "history.sqlite3"
    storage.write_bytes(b"not a database at all " * 200)
    config = write_config(tmp_path, storage)
    refused_with(
        run_cli("session", "start", "-c", str(config), "--user", "ann"),
        f"{storage}: not a usable retrowalk database (file is not a database); set [service] storage in the "
        "configuration to a retrowalk database or a new file",
    )


def test_someone_elses_database(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    storage = tmp_path / "other.sqlite3"
    with sqlite3.connect(storage) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    refused_with(
        run_cli("serve", "-c", str(write_config(tmp_path, storage))),
        f"{storage}: has tables but no retrowalk schema version, so it belongs to another program; set "
        "[service] storage in the configuration to a new file",
    )


def test_an_unknown_treadmill_names_the_known_ones(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    config = write_config(tmp_path, tmp_path / "history.sqlite3")
    refused_with(
        run_cli("session", "start", "-c", str(config), "--user", "ann", "--treadmill", "gym"),
        "no treadmill 'gym' in the configuration; use one of: home",
    )


def test_a_first_session_without_screening_answers_says_how_to_give_them(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    config = write_config(tmp_path, tmp_path / "history.sqlite3")
    no_bus = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}  # it must not need a treadmill
    refused_with(
        run_cli("session", "start", "-c", str(config), "--user", "ann", env=no_bus),
        "no screening answers on record for 'ann': answer them with --screening AGE,OA,BALANCE,SURGERY",
    )


def test_session_stop_without_a_session_says_so(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    storage = tmp_path / "history.sqlite3"
    config = str(write_config(tmp_path, storage))
    nothing = run_cli("session", "stop", "-c", config)
    assert (nothing.returncode, nothing.stderr) == (
        1,
        f"no session is running for this configuration (no {storage}.session.pid)\n",
    )
    stale = tmp_path / "history.sqlite3.session.pid"
    finished = subprocess.Popen(["true"])  # a pid that no longer runs (reaped, so not reused at once)
    finished.wait()
    stale.write_text(str(finished.pid))
    result = run_cli("session", "stop", "-c", config)
    assert (result.returncode, result.stderr) == (
        1,
        "the session process is gone already; removed its stale pid file\n",
    )
    assert not stale.exists()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--speedup", "nan"], "--speedup must be a number above 0 and at most 120, got nan"),
        (
            ["--quirk", "sticky-belt"],
            "unknown quirk 'sticky-belt'; valid quirks: console-drift, cross-trainer-data, "
            "cross-trainer-only, fast-notify, flaky-link, ignores-speed, mph-as-kmh, needs-unlock, "
            "no-final-zero, notify-replies, own-start-speed, pause-revokes-control, power-blip, "
            "request-control-starts, slow-start-accept, split-records, urevo-e1l, wind-down-status, "
            "zero-incline-range",
        ),
    ],
)
def test_the_demo_refuses_bad_options_before_starting_anything(
    args: list[str], sentence: str, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    result = run_cli("demo", "--plain", *args)
    refused_with(result, sentence)
    assert result.stdout == ""


def test_scan_without_a_system_bus_says_what_to_install(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    refused_with(
        run_cli("scan", "--seconds", "1", env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}),
        "cannot scan for Bluetooth devices: the system D-Bus is not reachable (is dbus running? install the "
        "'dbus' package and start it; in a container, mount the host's /run/dbus)",
    )


def test_the_traceback_is_shown_at_debug_only(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.toml")
    assert "Traceback" not in retrowalk("check-config", absent).stderr
    debug = retrowalk("--log-level", "DEBUG", "check-config", absent)
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
    assert "ConfigError" in debug.stderr


class _Plan(BaseModel):
    minutes: int = Field(le=30)


def test_a_refusal_inside_task_groups_is_the_sentence() -> None:
    async def refuse() -> None:
        raise RefusedError("session not started: ask a clinician first")

    async def sibling() -> None:
        await asyncio.sleep(3600)

    async def nested() -> None:
        async with asyncio.TaskGroup() as outer:
            outer.create_task(sibling())
            async with asyncio.TaskGroup() as inner:
                inner.create_task(refuse())

    with pytest.raises(BaseExceptionGroup) as caught:
        asyncio.run(nested())
    assert failure_sentence(caught.value) == "session not started: ask a clinician first"


def test_other_failures_are_one_sentence_too() -> None:
    with pytest.raises(ValidationError) as invalid:
        _Plan(minutes=40)
    assert failure_sentence(invalid.value) == (
        "invalid value (minutes: Input should be less than or equal to 30); correct it and try again"
    )
    denied = PermissionError(13, "Permission denied", "/srv/retrowalk.sqlite3")
    assert failure_sentence(denied) == (
        "/srv/retrowalk.sqlite3: permission denied; check the path, its permissions and free disk space"
    )
    # The option goes before the command: 'retrowalk kiosk ... --log-level DEBUG' is refused by argparse.
    assert failure_sentence(ConnectionRefusedError(111, "Connection refused"), "kiosk") == (
        "the system said: connection refused; run it again as 'retrowalk --log-level DEBUG kiosk ...' to "
        "see where"
    )
    assert failure_sentence(KeyError("tm9"), "serve") == (
        "unexpected KeyError: 'tm9'; run it again as 'retrowalk --log-level DEBUG serve ...' to see where it "
        "happened, and report it"
    )


def test_the_terminal_asks_within_the_start_commands_bounds() -> None:
    """The terminal's --minutes and --max-speed bounds are the MQTT start command's, not a second opinion."""
    properties = PlanRequest.model_json_schema()["properties"]

    def bounds(name: str) -> tuple[float, float]:
        (number,) = [option for option in properties[name]["anyOf"] if option["type"] != "null"]
        return number["minimum"], number["maximum"]

    assert bounds("max_speed_kmh") == (cli.MIN_ASKED_KMH, cli.MAX_ASKED_KMH)
    assert bounds("duration_cap_s") == (60, cli.MAX_SESSION_MIN * 60)
    age = ScreeningCommand.model_json_schema()["properties"]["age"]
    assert (age["minimum"], age["maximum"]) == (cli_args.MIN_AGE, cli_args.MAX_AGE)


def test_a_second_kiosk_on_a_busy_port_says_how_to_rerun_it_for_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint is followed literally: the option it names goes before the command, where argparse takes
    it."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = kiosk_config(tmp_path / "kiosk.toml", broker_port=1, http_port=busy.getsockname()[1])
        assert main(["kiosk", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retrowalk: the system said: ")
    assert err.endswith("; run it again as 'retrowalk --log-level DEBUG kiosk ...' to see where\n")

"""`retrowalk check-config` catches what would otherwise pass and fail later: one sentence per mistake
(file or environment variable, field, reason, what to do), exit code 2, no traceback."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from retrowalk import cli
from retrowalk.config import load_config

BASE = """
[service]
id = "gym"
storage = "history.sqlite3"

[ceilings]
max_speed_kmh = 2.5
max_duration_s = 1200

[[treadmills]]
id = "tm1"
address = "F4:12:FA:10:00:01"

[[treadmills]]
id = "tm2"
address = "F4:12:FA:10:00:02"

[broker]
host = "mqtt.local"
port = 1883
discovery = true
"""


pytestmark = pytest.mark.usefixtures("config_sandbox")


def check(capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, list[str]]:
    Path("retrowalk.toml").write_text(text, encoding="utf-8")
    code = cli.main(["check-config", "retrowalk.toml"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, (out + err).splitlines()


def test_the_base_configuration_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, BASE) == (0, ["retrowalk.toml: valid (2 treadmill(s))"])


@pytest.mark.parametrize(
    ("old", "new", "sentence"),
    [
        pytest.param(
            "max_speed_kmh = 2.5",
            'max_speed_kmh = "2.5"',
            'retrowalk.toml: ceilings.max_speed_kmh: "2.5" is text in quotes, not a number: '
            "write max_speed_kmh = 2.5 without quotes",
            id="quoted-number",
        ),
        pytest.param(
            "discovery = true",
            'discovery = "yes"',
            'retrowalk.toml: broker.discovery: "yes" is not a boolean: write true or false '
            "(in the file without quotes)",
            id="quoted-boolean",
        ),
        pytest.param(
            "max_duration_s = 1200",
            'max_duration_s = 1200\n\n[default_plan]\ncool_down_s = "90"',
            'retrowalk.toml: default_plan.cool_down_s: "90" is text in quotes, not a number: '
            "write cool_down_s = 90 without quotes",
            id="quoted-plan-number",
        ),
        pytest.param(
            'storage = "history.sqlite3"',
            'storage = "no-such-dir/history.sqlite3"',
            "retrowalk.toml: service.storage: the directory no-such-dir does not exist and retrowalk does "
            "not create it: create it, writable by the user retrowalk runs as, or point storage at an "
            "existing directory",
            id="storage-directory-missing",
        ),
        pytest.param(
            'address = "F4:12:FA:10:00:02"',
            'address = "f4:12:fa:10:00:01"',
            "retrowalk.toml: treadmills.1.address: F4:12:FA:10:00:01 is also the address of treadmill tm1 "
            "(addresses are compared in upper case): each [[treadmills]] table must name a different "
            "treadmill",
            id="duplicate-address-in-other-case",
        ),
        pytest.param(
            "max_duration_s = 1200",
            "max_duration_s = 1200\n\n[default_plan]\ntarget_speed_kmh = 3.0",
            "retrowalk.toml: default_plan.target_speed_kmh: 3.0 is above ceilings.max_speed_kmh (2.5), so "
            "every start would be refused: lower it or raise ceilings.max_speed_kmh",
            id="default-plan-above-the-speed-ceiling",
        ),
        pytest.param(
            "max_duration_s = 1200",
            "max_duration_s = 1200\n\n[default_plan]\nduration_cap_s = 1500",
            "retrowalk.toml: default_plan.duration_cap_s: 1500 is above ceilings.max_duration_s (1200), so "
            "every start would be refused: lower it or raise ceilings.max_duration_s",
            id="default-plan-above-the-duration-ceiling",
        ),
        pytest.param(
            "max_duration_s = 1200",
            "max_duration_s = 1200\n\n[default_plan]\ntarget_speed_kmh = 2.2",
            "retrowalk.toml: default_plan.target_speed_kmh: 2.2 is above 2.0 km/h, the ceiling for people "
            "aged 65 or more or with a balance concern, so every start for them would be refused: set at "
            "most 2.0 or leave the target to the progression",
            id="default-plan-above-the-cautious-ceiling",
        ),
        pytest.param(
            "discovery = true",
            "discovery = true\n\n[link]\nno_data_timeout_s = 1.5",
            "retrowalk.toml: link.no_data_timeout_s: 1.5 s is too short: treadmills send data once or "
            "twice a second, and one whose first frame is late would be dropped again and again; set at "
            "least 3 s",
            id="no-data-timeout-too-short",
        ),
        pytest.param(
            "port = 1883",
            "port = 8883",
            "retrowalk.toml: broker.port: 8883 is the port for MQTT over TLS, but there is no [broker.tls] "
            "table, so the broker would close every connection: add [broker.tls] with ca_file "
            "(docs/configuration.md), or use the broker's plain port (usually 1883)",
            id="tls-port-without-tls",
        ),
    ],
)
def test_a_mistake_that_would_fail_later_is_one_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str], old: str, new: str, sentence: str
) -> None:
    assert old in BASE
    code, lines = check(capsys, BASE.replace(old, new))
    assert code == 2
    assert lines == ["retrowalk: invalid configuration:", f"  {sentence}"]


def test_environment_overrides_are_typed_from_their_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Environment values are always text; the strict models still take them, once read as their type."""
    monkeypatch.setenv("RETROWALK_CEILINGS__MAX_SPEED_KMH", "2.0")
    monkeypatch.setenv("RETROWALK_CEILINGS__MAX_DURATION_S", "900")
    monkeypatch.setenv("RETROWALK_BROKER__DISCOVERY", "no")  # environment booleans take yes/no too
    monkeypatch.setenv("RETROWALK_BROKER__PORT", "1884")
    monkeypatch.setenv("RETROWALK_DEFAULT_PLAN__COOL_DOWN_S", "90")
    assert check(capsys, BASE) == (0, ["retrowalk.toml: valid (2 treadmill(s))"])
    settings = load_config(Path("retrowalk.toml"))
    assert settings.ceilings.max_speed_kmh == 2.0
    assert settings.ceilings.max_duration_s == 900
    assert settings.broker is not None
    assert settings.broker.discovery is False
    assert settings.broker.port == 1884
    assert settings.default_plan == {"cool_down_s": 90}


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        (
            "RETROWALK_CEILINGS__MAX_SPEED_KMH",
            "fast",
            'ceilings.max_speed_kmh: "fast" is not a number: write a number (in the file without quotes)',
        ),
        (
            "RETROWALK_BROKER__DISCOVERY",
            "maybe",
            'broker.discovery: "maybe" is not a boolean: write true or false (in the file without quotes)',
        ),
        (
            "RETROWALK_CEILINGS__MAX_SPEED_KMH",
            "4",
            "ceilings.max_speed_kmh: Input should be less than or equal to 3.5",
        ),
    ],
)
def test_a_bad_environment_value_names_its_variable(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    sentence: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, lines = check(capsys, BASE)
    assert code == 2
    assert lines == ["retrowalk: invalid configuration:", f"  {variable} (environment): {sentence}"]


def test_serve_refuses_a_missing_storage_directory_and_does_not_create_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The documented decision: a missing directory is a mistake to fix, not something to create."""
    Path("retrowalk.toml").write_text(
        BASE.replace('storage = "history.sqlite3"', 'storage = "var/history.sqlite3"'), encoding="utf-8"
    )
    code = cli.main(["serve", "--config", "retrowalk.toml"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "retrowalk.toml: service.storage: the directory var does not exist" in err
    assert not Path("var").exists()


def test_serve_refuses_a_bad_link_value_before_anything_is_created(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("retrowalk.toml").write_text(BASE + "\n[link]\nno_data_timeout_s = 600\n", encoding="utf-8")
    code = cli.main(["serve", "--config", "retrowalk.toml"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "retrowalk.toml: link.no_data_timeout_s: Input should be less than or equal to 120" in err
    assert not Path("history.sqlite3").exists()


def test_every_missing_tls_file_is_named_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    Path("ca.crt").write_text("a CA bundle\n")
    tls = '\n[broker.tls]\nca_file = "ca.crt"\ncert_file = "client.crt"\nkey_file = "client.key"\n'
    code, lines = check(capsys, BASE.replace("port = 1883", "port = 8883") + tls)
    assert code == 2
    user = getpass.getuser()
    assert lines == [
        "retrowalk: invalid configuration:",
        *(
            f"  retrowalk.toml: broker.tls.{field}: client.{suffix} is not a readable file for user "
            f"{user}: create it (docs/deployment.md has the openssl commands) or correct the path"
            for field, suffix in (("cert_file", "crt"), ("key_file", "key"))
        ),
    ]


def test_an_advertised_name_listed_twice_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace('address = "F4:12:FA:10:00:01"', 'name = "WalkingPad"').replace(
        'address = "F4:12:FA:10:00:02"', 'name = "WalkingPad"'
    )
    code, lines = check(capsys, text)
    assert code == 2
    assert lines == [
        "retrowalk: invalid configuration:",
        "  retrowalk.toml: treadmills.1.name: WalkingPad is also the name of treadmill tm1: each "
        "[[treadmills]] table must name a different treadmill",
    ]

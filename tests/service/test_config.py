"""Configuration: a TOML file plus environment overrides; every mistake named by file, field and reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from retrowalk.config import LinkSection, load_config
from retrowalk.errors import ConfigError
from retrowalk.link.ftms import LinkSettings
from retrowalk.service.app import link_settings

GOOD = """
[service]
id = "gym-floor"
storage = "history.sqlite3"

[ceilings]
max_speed_kmh = 2.5
max_duration_s = 900

[broker]
host = "mqtt.local"
port = 1883

[[treadmills]]
id = "tm1"
address = "AA:BB:CC:00:00:01"

[[treadmills]]
id = "tm2"
name = "WalkingPad"
"""


pytestmark = pytest.mark.usefixtures("config_sandbox")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retrowalk.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.service.id == "gym-floor"
    assert cfg.ceilings.max_speed_kmh == 2.5
    assert cfg.ceilings.max_incline_pct == 5.0  # untouched defaults stay
    assert [t.id for t in cfg.treadmills] == ["tm1", "tm2"]
    assert cfg.broker is not None
    assert cfg.broker.port == 1883


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETROWALK_CEILINGS__MAX_SPEED_KMH", "2.0")
    monkeypatch.setenv("RETROWALK_SERVICE__ID", "from-env")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.ceilings.max_speed_kmh == 2.0
    assert cfg.service.id == "from-env"
    assert cfg.ceilings.max_duration_s == 900  # the rest of the table still comes from the file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("max_speed_kmh = 2.5", "max_speed_kmh = 9.0"), "ceilings.max_speed_kmh"),
        (GOOD.replace("max_speed_kmh = 2.5", 'max_speed_kmh = "fast"'), "ceilings.max_speed_kmh"),
        (GOOD.replace('id = "tm2"', 'id = "tm1"'), "treadmills.1.id: tm1 is also the id of treadmill 0"),
        (GOOD.replace('address = "AA:BB:CC:00:00:01"', 'address = "nope"'), "treadmills.0.address"),
        (GOOD.replace("port = 1883", "port = 0"), "broker.port"),
        (GOOD + "\n[surprise]\nx = 1\n", "surprise"),
        (GOOD.replace('name = "WalkingPad"', ""), "neither address nor name"),
        ("[service]\n", "treadmills"),
        ("this is = = not toml", "not valid TOML"),
        (GOOD + "\n[default_plan]\ncool_dwon_s = 10\n", "default_plan.cool_dwon_s"),
        (GOOD + "\n[default_plan]\ncool_down_s = 9000\n", "default_plan.cool_down_s"),
        (
            GOOD + "\n[link]\nbackoff_initial_s = 5\nbackoff_max_s = 1\n",
            "link: backoff_max_s must be >= backoff_initial_s",
        ),
        (
            GOOD + '\n[home_assistant]\nwalkers = ["ann", "bo", "ann"]\n',
            "home_assistant.walkers: ann named more",
        ),
        (GOOD + '\n[home_assistant]\nwalkers = "ann"\n', "home_assistant.walkers"),
        (
            GOOD.replace('id = "tm2"', 'id = "tm2"\nkiosk_url = "kiosk.local:8080"'),
            "treadmills.1.kiosk_url: kiosk.local:8080 is not a web address",
        ),
        (GOOD.replace('id = "tm2"', 'id = "tm2"\narea = ""'), "treadmills.1.area"),
    ],
)
def test_every_mistake_is_named(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_a_single_treadmill_may_be_the_first_one_found(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[[treadmills]]\nid = "home"\n'))
    assert cfg.treadmills[0].address is None
    assert cfg.broker is None


def test_the_link_table_reaches_the_links(tmp_path: Path) -> None:
    # Every field of [link], no_data_timeout_s among them, set away from its default, arrives in the
    # settings each treadmill's link is built with.
    cfg = load_config(
        write(
            tmp_path,
            GOOD + "\n[link]\ncommand_timeout_s = 3.0\nscan_timeout_s = 7.0\nconnect_timeout_s = 25.0\n"
            'backoff_initial_s = 1.5\nbackoff_max_s = 45.0\nno_data_timeout_s = 30\nadapter = "hci1"\n',
        ),
    )
    assert cfg.link.no_data_timeout_s == 30.0
    assert link_settings(cfg.link) == LinkSettings(
        command_timeout_s=3.0,
        scan_timeout_s=7.0,
        connect_timeout_s=25.0,
        backoff_initial_s=1.5,
        backoff_max_s=45.0,
        no_data_timeout_s=30.0,
        adapter="hci1",
    )
    # A setting the link has and the file cannot set would be fixed at its default for every user.
    assert {field.name for field in dataclasses.fields(LinkSettings)} == set(LinkSection.model_fields)

"""Where each setting comes from, for the three settings classes that share one rule
(retrowalk.config.FileSettings): `retrowalk serve`'s and `retrowalk kiosk`'s read the file (given as
init values), which their own environment variables override, and defaults fill the rest; the demo's
read only the values the demo gives, whatever RETROWALK_* variables the terminal has."""

from __future__ import annotations

import operator
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from retrowalk.config import Settings
from retrowalk.demo.app import DemoSettings
from retrowalk.kiosk.settings import KioskSettings

pytestmark = pytest.mark.usefixtures("config_sandbox")

# Every variable is set in every case: each class must pick its own prefix's and ignore the other's.
ENVIRONMENT = {
    # the service's: one field the file also sets, one only here
    "RETROWALK_SERVICE__ID": "from-env",
    "RETROWALK_LINK__COMMAND_TIMEOUT_S": "3.5",
    # the kiosk's, likewise
    "RETROWALK_KIOSK_HTTP__PORT": "9090",
    "RETROWALK_KIOSK_HTTP__REPLY_TIMEOUT_S": "7",
}

SERVICE_FILE: dict[str, Any] = {
    "service": {"id": "from-file"},
    "link": {"backoff_max_s": 5.0},
    "treadmills": [{"id": "tm1"}],
}
KIOSK_FILE: dict[str, Any] = {
    "http": {"port": 8081, "cookie_days": 30},
    "treadmills": [{"id": "tm1", "service": "gym", "token": "a-token-long-enough-to-keep"}],
}


@pytest.mark.parametrize(
    ("settings_class", "file", "expected"),
    [
        pytest.param(
            Settings,
            SERVICE_FILE,
            {
                "service.id": "from-env",  # the environment beats the file
                "link.command_timeout_s": 3.5,  # the environment beats the default
                "link.backoff_max_s": 5.0,  # the file beats the default
                "link.scan_timeout_s": 10.0,  # the default where neither says
            },
            id="serve",
        ),
        pytest.param(
            KioskSettings,
            KIOSK_FILE,
            {
                "http.port": 9090,
                "http.reply_timeout_s": 7.0,
                "http.cookie_days": 30,
                "http.host": "127.0.0.1",
            },
            id="kiosk",
        ),
        pytest.param(
            DemoSettings,
            SERVICE_FILE,
            {
                "service.id": "from-file",  # RETROWALK_* variables do not reach the demo
                "link.command_timeout_s": 2.0,
                "link.backoff_max_s": 5.0,
                "link.scan_timeout_s": 10.0,
            },
            id="demo",
        ),
    ],
)
def test_each_settings_class_keeps_its_sources_in_order(
    monkeypatch: pytest.MonkeyPatch,
    settings_class: type[BaseSettings],
    file: dict[str, Any],
    expected: dict[str, object],
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    settings = settings_class(**file)
    assert {field: operator.attrgetter(field)(settings) for field in expected} == expected

"""A real Home Assistant core for the tests: its own virtual environment (Python 3.13), a fresh config
directory, started headless with the MQTT integration pointed at the test's mosquitto.

The environment is built by ``scripts/dev test`` (and so by CI) under ``~/.cache/retrowalk/`` and named by
``RETROWALK_HA_PYTHON``; without it (no Python 3.13 on the machine) the tests skip and say so.
Onboarding is marked done in the config directory; the tests log in with Home Assistant's own login flow
(a user made by its ``auth`` script) and use its REST API. scripts/home_assistant_screenshot.py starts the
same parts with these helpers to take the device page's picture for the docs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retrowalk.subprocesses import free_port, stop_process
from treadsim.server import treadmill_address

HA_VERSION = "2025.4.4"
HA_PYTHON_VARIABLE = "RETROWALK_HA_PYTHON"
# Where Home Assistant sends retrowalk's commands (mqtt.publish), for the service "home"'s treadmill "home".
COMMANDS = "retrowalk/v1/treadmill/home/command"
_USER, _PASSWORD = "retrowalk-test", "not-a-secret-test-password"
# Generous: Home Assistant imports a lot, and these machines are shared.
_START_S = 240.0


class NoHomeAssistantError(Exception):
    """There is no Home Assistant environment to run; the message says why and how to get one."""


def configured_ha_python() -> Path:
    """The Python of Home Assistant's own environment; :class:`NoHomeAssistantError` when there is none."""
    configured = os.environ.get(HA_PYTHON_VARIABLE)
    if not configured:
        raise NoHomeAssistantError(
            f"no Home Assistant environment: {HA_PYTHON_VARIABLE} is not set; `scripts/dev test` builds one "
            "(Home Assistant core 2025.4.4) where Python 3.13 is installed (pyenv install 3.13)"
        )
    python = Path(configured)
    if not python.exists():
        raise NoHomeAssistantError(
            f"{HA_PYTHON_VARIABLE}={python} does not exist; run `scripts/dev test` to build it"
        )
    return python


def ha_python() -> Path:
    """The Python of Home Assistant's own environment, or skip the test saying why there is none."""
    try:
        return configured_ha_python()
    except NoHomeAssistantError as missing:
        pytest.skip(str(missing))


def wait_until(what: str, check: Callable[[], Any], within_s: float, explain: Callable[[], str]) -> Any:
    """Poll ``check`` until it returns something true, and return that; after ``within_s`` seconds raise
    :class:`TimeoutError` with ``explain()`` (what the caller saw, to tell why)."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within_s} s waiting for {what}\n{explain()}")
        time.sleep(0.3)


def write_home_config(directory: Path, broker_port: int, walkers: tuple[str, ...] = ("me",)) -> Path:
    """A home user's configuration (docs/getting-started-home.md) for the service "home" with one
    treadmill "home" on treadsim's first address, the broker on ``broker_port``, and ``walkers`` whom
    Home Assistant may start."""
    config = directory / "home.toml"
    config.write_text(
        f'[service]\nid = "home"\nstorage = "{directory / "home.sqlite3"}"\n\n'
        "[link]\nscan_timeout_s = 5.0\nbackoff_initial_s = 0.2\nbackoff_max_s = 1.0\n\n"
        f'[broker]\nhost = "127.0.0.1"\nport = {broker_port}\n\n'
        f"[home_assistant]\nwalkers = {json.dumps(list(walkers))}\n\n"
        f'[[treadmills]]\nid = "home"\naddress = "{treadmill_address(0)}"\n'
        'label = "Walking pad"\narea = "Spare room"\nkiosk_url = "http://127.0.0.1:8080/home"\n'
    )
    return config


def value(ha: HomeAssistant, entity_id: str) -> str | None:
    """An entity's state as Home Assistant shows it; None while it has no such entity."""
    state = ha.state(entity_id)
    return None if state is None else str(state["state"])


def is_number(text: str | None) -> bool:
    try:
        float(text or "")
    except ValueError:
        return False
    return True


def _request(
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """One HTTP request to Home Assistant: (status, decoded JSON body or None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else None


def _write_config(config_dir: Path, port: int, extra: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n"
        "  name: retrowalk test\n"
        "  unit_system: metric\n"
        "  time_zone: UTC\n"
        "  latitude: 0\n"
        "  longitude: 0\n"
        "  elevation: 0\n"
        "  country: DE\n"
        "  currency: EUR\n"
        "http:\n"
        "  server_host: 127.0.0.1\n"
        f"  server_port: {port}\n"
        "api:\n"
        "logger:\n"
        "  default: warning\n"
        f"{extra}"
    )
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    # Onboarding done: the API and the frontend work without a person clicking through it first.
    onboarding = {
        "version": 4,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": ["user", "core_config", "analytics", "integration"]},
    }
    (storage / "onboarding").write_text(json.dumps(onboarding))


# Home Assistant's own `auth` script makes the test user; it took 25 s on a loaded 2-core machine
# (imports and the password hash), so it runs once per test run and each config directory gets a copy of
# the store it wrote.
_AUTH_STORE = "auth_provider.homeassistant"


@functools.cache
def _test_user_store(python: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ha-auth-") as scratch:
        subprocess.run(
            [str(python), "-m", "homeassistant", "--script", "auth", "-c", scratch, "add", _USER, _PASSWORD],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return (Path(scratch) / ".storage" / _AUTH_STORE).read_bytes()


@dataclass
class HomeAssistant:
    """One Home Assistant core process with its config directory; :meth:`restart` keeps the directory."""

    python: Path
    config_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    token: str | None = None
    # More of configuration.yaml (integrations a test sets up, such as automations), at the first start.
    extra_config: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not (self.config_dir / "configuration.yaml").exists():
            _write_config(self.config_dir, self.port, self.extra_config)
            auth_store = self.config_dir / ".storage" / _AUTH_STORE
            auth_store.write_bytes(_test_user_store(self.python))
            auth_store.chmod(0o600)
        log = (self.config_dir / "ha-output.log").open("ab")
        # --skip-pip: everything it needs is in its environment; it must not install at run time.
        self.process = subprocess.Popen(
            [str(self.python), "-m", "homeassistant", "-c", str(self.config_dir), "--skip-pip"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.token = None
        self._wait_until_running()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, within_s=60)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.config_dir / "home-assistant.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def diagnosis(self) -> str:
        """For a failing test: what this Home Assistant shows of retrowalk, and the end of its log."""
        if self.process is None or self.token is None:
            return f"Home Assistant in {self.config_dir}: not running"
        states = {
            s["entity_id"]: s["state"] for s in self.get("/api/states") if "retrowalk" in s["entity_id"]
        }
        return f"Home Assistant in {self.config_dir}: {states}\nlog:\n{self.log()[-3000:]}"

    def _wait_until_running(self) -> None:
        deadline = time.monotonic() + _START_S
        while self.token is None or not self._running():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Home Assistant did not start within {_START_S} s:\n{self.log()[-4000:]}"
                )
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"Home Assistant exited ({self.process.returncode}):\n{self.log()[-4000:]}"
                )
            if self.token is None:
                with contextlib.suppress(OSError, KeyError, AssertionError):
                    # The login flow answers once the HTTP server is up.
                    self.token = str(self.log_in()["access_token"])
            time.sleep(0.5)

    def _running(self) -> bool:
        config = self.get("/api/config")
        # Recovery mode: an integration it needs failed (a package missing from its environment, say).
        assert not config.get("recovery_mode"), (
            f"Home Assistant started in recovery mode:\n{self.log()[-4000:]}"
        )
        return bool(config.get("state") == "RUNNING")

    def log_in(self) -> dict[str, Any]:
        """Log the test user in through Home Assistant's login flow, as its frontend does; the tokens it
        gives (``access_token``, ``refresh_token``, ``expires_in``...)."""
        client_id = f"{self.url}/"
        _, flow = _request(
            "POST",
            f"{self.url}/auth/login_flow",
            body={"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
        )
        _, done = _request(
            "POST",
            f"{self.url}/auth/login_flow/{flow['flow_id']}",
            body={"client_id": client_id, "username": _USER, "password": _PASSWORD},
        )
        assert done.get("type") == "create_entry", done
        _, tokens = _request(
            "POST",
            f"{self.url}/auth/token",
            form={"grant_type": "authorization_code", "code": done["result"], "client_id": client_id},
        )
        result: dict[str, Any] = tokens
        return result

    # -- the REST API -----------------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        status, answer = _request("GET", f"{self.url}{path}", token=self.token)
        assert status == 200, f"GET {path}: {status} {answer}"
        return answer

    def post(self, path: str, body: dict[str, Any]) -> Any:
        status, answer = _request("POST", f"{self.url}{path}", body=body, token=self.token)
        assert status < 400, f"POST {path} {body}: {status} {answer}"
        return answer

    def call(self, domain: str, service: str, **data: Any) -> None:
        self.post(f"/api/services/{domain}/{service}", data)

    def state(self, entity_id: str) -> dict[str, Any] | None:
        status, answer = _request("GET", f"{self.url}/api/states/{entity_id}", token=self.token)
        if status == 404:
            return None
        assert status == 200, f"state of {entity_id}: {status} {answer}"
        result: dict[str, Any] = answer
        return result

    def entity_ids(self, prefix: str = "") -> set[str]:
        return {
            s["entity_id"] for s in self.get("/api/states") if s["entity_id"].split(".")[1].startswith(prefix)
        }

    def configure_mqtt(self, broker_port: int) -> None:
        """Add the MQTT integration through its config flow, as a person does in the UI."""
        flow = self.post(
            "/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False}
        )
        while flow.get("type") == "form":
            answer: dict[str, Any] = {}
            if flow.get("step_id") == "broker":
                answer = {"broker": "127.0.0.1", "port": broker_port}
            flow = self.post(f"/api/config/config_entries/flow/{flow['flow_id']}", answer)
        assert flow.get("type") == "create_entry", flow

"""The check at import of the module that fences aiomqtt's and paho's private attributes: it passes on the
pinned versions and names everything that is missing on others."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import pytest

from retrowalk.mqtt import aiomqtt_private
from retrowalk.mqtt.aiomqtt_private import AiomqttInternalsError, check_internals

INSTALLED = importlib.metadata.version("aiomqtt")
ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_aiomqtt_is_the_pinned_one_and_has_every_name() -> None:
    check_internals(INSTALLED, aiomqtt.Client, mqtt.Client)  # raises if anything is missing


def test_another_aiomqtt_version_is_refused_by_name() -> None:
    with pytest.raises(AiomqttInternalsError, match=rf"aiomqtt {INSTALLED} \(installed: 2\.6\.0\)"):
        check_internals("2.6.0", aiomqtt.Client, mqtt.Client)


def test_a_method_that_is_gone_is_named() -> None:
    # A stand-in for a release that renamed it: aiomqtt's client class without that one method.
    Without = type("Without", (), {k: v for k, v in vars(aiomqtt.Client).items() if k != "_pending_call"})
    with pytest.raises(AiomqttInternalsError) as refused:
        check_internals(INSTALLED, Without, mqtt.Client)
    assert "aiomqtt.Client._pending_call" in str(refused.value)
    assert "aiomqtt.Client._wait_for" not in str(refused.value)  # only what is missing


def test_an_attribute_no_longer_set_in_init_is_named() -> None:
    class NewInit(aiomqtt.Client):
        def __init__(self) -> None:  # a release whose client keeps its paho client under another name
            self._paho = None
            self._lock = None  # type: ignore[assignment]  # a release that keeps the attribute but not the type
            self._connected = None  # type: ignore[assignment]  # a release that keeps the attribute but not the type
            self._pending_publishes = None  # type: ignore[assignment]  # a release that keeps the attribute but not the type

    with pytest.raises(AiomqttInternalsError, match=r"aiomqtt\.Client\._client \(set in __init__\)"):
        check_internals(INSTALLED, NewInit, mqtt.Client)


def test_a_missing_paho_member_is_named() -> None:
    Without = type("Without", (), {k: v for k, v in vars(mqtt.Client).items() if k != "_sock_close"})
    with pytest.raises(AiomqttInternalsError, match=r"paho\.mqtt\.client\.Client\._sock_close"):
        check_internals(INSTALLED, aiomqtt.Client, Without)


def test_the_service_does_not_start_with_an_unpinned_aiomqtt() -> None:
    """The check runs when the bridge is imported, so a wrong aiomqtt stops `retrowalk` before it
    drives any treadmill. Another version is simulated in a separate interpreter."""
    script = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '9.9.9' if name == 'aiomqtt' else real(name)\n"
        "import retrowalk.mqtt.bridge\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert "AiomqttInternalsError" in run.stderr
    assert f"aiomqtt {aiomqtt_private.PINNED_AIOMQTT} (installed: 9.9.9)" in run.stderr


@pytest.mark.parametrize("package", ["aiomqtt", "pyftms"])
def test_pyproject_pins_exactly_what_the_lock_installs(package: str) -> None:
    """Both are used through private attributes: pinned exactly, to the version the lock installs (and,
    for aiomqtt, the one whose internals the fence was read from)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    pins = [d for d in dependencies if re.fullmatch(rf"{package}\s*[=<>!~].*", d)]
    assert len(pins) == 1, pins
    exact = re.fullmatch(rf"{package}==([0-9][0-9.]*)", pins[0])
    assert exact is not None, f"{pins[0]} is not an exact pin"
    version = exact.group(1)
    locked = re.findall(rf"^{package}==(\S+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert locked == [version]
    if package == "aiomqtt":
        assert version == aiomqtt_private.PINNED_AIOMQTT

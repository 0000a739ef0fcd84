"""Bluetooth failures are described so a person knows what to install, start or plug in."""

from __future__ import annotations

import logging

import pytest
from bleak.exc import BleakError

from retrowalk.link.diagnose import describe_bluetooth_error


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (FileNotFoundError(2, "No such file or directory"), "install the 'dbus' package"),
        (
            BleakError("[org.freedesktop.DBus.Error.ServiceUnknown] The name org.bluez was not provided"),
            "'bluez'",
        ),
        (BleakError("No Bluetooth adapters found.", object()), "plug one in"),
        (BleakError("No powered Bluetooth adapters found.", object()), "bluetoothctl power on"),
        (BleakError("something new"), "something new"),
    ],
)
def test_each_failure_says_what_to_do(error: BaseException, advice: str) -> None:
    text = describe_bluetooth_error(error)
    assert advice in text
    assert "object at" not in text  # never a tuple or object repr


def test_the_scan_command_says_the_bus_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from retrowalk.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/retrowalk-test-bus")
    try:
        assert main(["scan", "--seconds", "0.5"]) == 2
    finally:
        root.handlers[:], root.level = handlers, level
    assert "the system D-Bus is not reachable" in capsys.readouterr().err

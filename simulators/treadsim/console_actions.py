"""The tester console's actions: one table, used by the in-process API and the D-Bus console alike.

Each action is what a person can do to a treadmill (press a key, key in a speed, pull the safety key,
switch it off and on) or to its radio link (drop it, refuse connections, carry it out of range), or a
read (state, ground-truth record). Arguments are strings because they arrive from a command line; a bad
one raises :class:`ConsoleCommandError` before anything changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from treadsim.bluez.errors import ConsoleCommandError

if TYPE_CHECKING:
    from treadsim.server import TreadmillSlot

__all__ = ["ACTIONS", "ConsoleAction", "perform", "record_entries", "treadmill_state"]


@dataclass(frozen=True)
class ConsoleAction:
    name: str
    argument: str  # how the argument is spelled in help texts; "" when the action takes none
    help: str
    run: Callable[[TreadmillSlot, str, float], dict[str, Any]]


def _no_argument(action: str, argument: str) -> None:
    if argument:
        raise ConsoleCommandError(f"{action} takes no argument, got {argument!r}")


def _choice(action: str, argument: str, choices: tuple[str, ...]) -> str:
    if argument not in choices:
        raise ConsoleCommandError(f"{action} needs one of {', '.join(choices)}; got {argument!r}")
    return argument


def _press(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    key = _choice("press", argument, ("start", "stop", "pause"))
    peripheral = slot.peripheral
    if key == "start":
        started = peripheral.press_start(now)
        return {"ok": started, "detail": "" if started else "start refused: the safety key is out"}
    if key == "stop":
        peripheral.press_stop(now)
    else:
        peripheral.press_pause(now)
    return {"ok": True}


def _speed_step(direction: int) -> Callable[[TreadmillSlot, str, float], dict[str, Any]]:
    def run(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
        _no_argument("speed-up" if direction > 0 else "speed-down", argument)
        if direction > 0:
            slot.peripheral.console_speed_up(now)
        else:
            slot.peripheral.console_speed_down(now)
        return {"ok": True}

    return run


def _set_speed(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    try:
        speed = float(argument)
    except ValueError:
        raise ConsoleCommandError(
            f"set-speed needs a number (the machine's unit), got {argument!r}"
        ) from None
    spec = slot.treadmill.spec
    low, high = spec.min_speed_cs / 100, spec.max_speed_cs / 100
    if not math.isfinite(speed) or not low <= speed <= high:
        raise ConsoleCommandError(
            f"set-speed {argument}: this console accepts {low:.2f}-{high:.2f} {spec.unit}"
        )
    slot.peripheral.console_set_speed(now, speed)
    return {"ok": True}


def _incline_step(direction: int) -> Callable[[TreadmillSlot, str, float], dict[str, Any]]:
    def run(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
        _no_argument("incline-up" if direction > 0 else "incline-down", argument)
        if direction > 0:
            slot.peripheral.console_incline_up(now)
        else:
            slot.peripheral.console_incline_down(now)
        return {"ok": True}

    return run


def _key(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    if _choice("key", argument, ("pull", "insert")) == "pull":
        slot.peripheral.pull_safety_key(now)
    else:
        slot.peripheral.insert_safety_key(now)
    return {"ok": True}


def _power_cycle(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    _no_argument("power-cycle", argument)
    slot.peripheral.power_cycle(now)
    return {"ok": True}


def _link(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    what = _choice("link", argument, ("drop", "refuse", "accept"))
    device = slot.device
    if what == "drop":
        was_connected = device.is_connected
        device.drop_link()
        return {"ok": was_connected, "detail": "" if was_connected else "no central was connected"}
    device.refuse_connections = what == "refuse"
    return {"ok": True}


def _disappear(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    _no_argument("disappear", argument)
    slot.device.disappear()
    return {"ok": True}


def _reappear(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    _no_argument("return", argument)
    slot.device.appear()
    return {"ok": True}


def _state(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    _no_argument("state", argument)
    return {"ok": True, "state": treadmill_state(slot, now)}


def _record(slot: TreadmillSlot, argument: str, now: float) -> dict[str, Any]:
    _no_argument("record", argument)
    return {"ok": True, "record": record_entries(slot)}


ACTIONS: dict[str, ConsoleAction] = {
    action.name: action
    for action in (
        ConsoleAction("press", "start|stop|pause", "press a console key", _press),
        ConsoleAction("speed-up", "", "one speed step up, as the + key", _speed_step(+1)),
        ConsoleAction("speed-down", "", "one speed step down, as the - key", _speed_step(-1)),
        ConsoleAction("set-speed", "SPEED", "key in a speed (the machine's unit)", _set_speed),
        ConsoleAction("incline-up", "", "one incline step up", _incline_step(+1)),
        ConsoleAction("incline-down", "", "one incline step down", _incline_step(-1)),
        ConsoleAction("key", "pull|insert", "pull or reinsert the safety key", _key),
        ConsoleAction("power-cycle", "", "switch the machine off and on", _power_cycle),
        ConsoleAction("link", "drop|refuse|accept", "drop the link; refuse or accept connections", _link),
        ConsoleAction("disappear", "", "go out of range (link lost, device gone)", _disappear),
        ConsoleAction("return", "", "come back into range", _reappear),
        ConsoleAction("state", "", "the treadmill's state (JSON)", _state),
        ConsoleAction("record", "", "the ground-truth belt record (JSON, true km/h)", _record),
    )
}


def perform(slot: TreadmillSlot, action: str, argument: str, now: float) -> dict[str, Any]:
    entry = ACTIONS.get(action)
    if entry is None:
        raise ConsoleCommandError(f"unknown console action {action!r}; actions: {', '.join(ACTIONS)}")
    result = entry.run(slot, argument.strip(), now)
    result.setdefault("detail", "")
    return {"treadmill": slot.index, "action": action, "argument": argument, "time": now, **result}


def record_entries(slot: TreadmillSlot) -> list[dict[str, Any]]:
    return [
        {
            "time": entry.time,
            "speed_kmh": entry.speed_kmh,
            "target_kmh": entry.target_kmh,
            "rate_kmh_s": entry.rate_kmh_s,
            "state": str(entry.state),
            "source": str(entry.source),
        }
        for entry in slot.treadmill.record
    ]


def treadmill_state(slot: TreadmillSlot, now: float) -> dict[str, Any]:
    treadmill = slot.treadmill
    device = slot.device
    totals = treadmill.totals
    return {
        "index": slot.index,
        "address": slot.address,
        "name": slot.options.name,
        "quirks": list(slot.options.quirks),
        "time": now,
        "belt": str(treadmill.state),
        "speed_kmh": round(treadmill.speed_kmh, 4),
        "target_kmh": round(treadmill.target_kmh, 4),
        "unit": str(treadmill.spec.unit),
        "incline_pct": treadmill.incline_dp / 10,
        "safety_key_in": treadmill.safety_key_in,
        "training_status": treadmill.training_status.name.lower(),
        "distance_m": round(totals.distance_m, 2),
        "elapsed_s": round(totals.elapsed_s, 2),
        "present": device.present,
        "connected": device.is_connected,
        "refusing_connections": device.refuse_connections,
        "has_control": slot.peripheral.has_control,
        "events": list(slot.peripheral.events)[-10:],
    }

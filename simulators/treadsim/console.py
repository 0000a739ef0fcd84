"""The out-of-process tester console: an object on the simulator's own private bus.

``treadsim serve`` owns the well-known name ``io.treadsim.Console`` next to ``org.bluez`` on the same bus,
so the one ``DBUS_SYSTEM_BUS_ADDRESS`` it prints finds the treadmills and their console. The object at
``/io/treadsim/Console`` (interface ``io.treadsim.Console1``) has two methods:

- ``Perform(i treadmill, s action, s argument) -> s``: runs :meth:`treadsim.server.Simulator.perform`
  (the same code the in-process API runs) and answers its result as JSON;
- ``Describe() -> s``: the treadmills (index, address, name, quirks) and the actions, as JSON.

Refusals come back as D-Bus errors ``io.treadsim.Error.UnknownTreadmill`` / ``.InvalidCommand`` with a
message; :func:`call_console` turns them back into treadsim's exceptions.
"""

# No "from __future__ import annotations": dbus-fast reads the method annotations at runtime.
import json
from typing import TYPE_CHECKING, Any

from dbus_fast import BusType, DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusStr
from dbus_fast.constants import RequestNameReply
from dbus_fast.service import ServiceInterface, dbus_method

from treadsim.bluez.errors import ConsoleCommandError, SimulatorError, UnknownTreadmillError
from treadsim.console_actions import ACTIONS

if TYPE_CHECKING:
    from treadsim.server import Simulator

__all__ = [
    "CONSOLE_BUS_NAME",
    "CONSOLE_INTERFACE",
    "CONSOLE_PATH",
    "ERROR_INVALID_COMMAND",
    "ERROR_UNKNOWN_TREADMILL",
    "ConsoleInterface",
    "ConsoleService",
    "call_console",
    "describe",
    "describe_remote",
    "perform_remote",
]

CONSOLE_BUS_NAME = "io.treadsim.Console"
CONSOLE_PATH = "/io/treadsim/Console"
CONSOLE_INTERFACE = "io.treadsim.Console1"
ERROR_UNKNOWN_TREADMILL = "io.treadsim.Error.UnknownTreadmill"
ERROR_INVALID_COMMAND = "io.treadsim.Error.InvalidCommand"


def describe(simulator: "Simulator") -> dict[str, Any]:
    return {
        "treadmills": [
            {
                "index": slot.index,
                "address": slot.address,
                "name": slot.options.name,
                "quirks": list(slot.options.quirks),
            }
            for slot in simulator.treadmills
        ],
        "actions": [{"name": a.name, "argument": a.argument, "help": a.help} for a in ACTIONS.values()],
    }


class ConsoleInterface(ServiceInterface):
    def __init__(self, simulator: "Simulator") -> None:
        super().__init__(CONSOLE_INTERFACE)
        self._simulator = simulator

    @dbus_method(name="Perform")
    def perform(self, treadmill: DBusInt32, action: DBusStr, argument: DBusStr) -> DBusStr:
        try:
            result = self._simulator.perform(treadmill, action, argument)
        except UnknownTreadmillError as error:
            raise DBusError(ERROR_UNKNOWN_TREADMILL, str(error)) from error
        except ConsoleCommandError as error:
            raise DBusError(ERROR_INVALID_COMMAND, str(error)) from error
        return json.dumps(result)

    @dbus_method(name="Describe")
    def describe(self) -> DBusStr:
        return json.dumps(describe(self._simulator))


class ConsoleService:
    """Exports the console on the simulator's bus connection and owns its well-known name."""

    def __init__(self, simulator: "Simulator") -> None:
        self._interface = ConsoleInterface(simulator)

    async def start(self, bus: MessageBus) -> None:
        bus.export(CONSOLE_PATH, self._interface)
        reply = await bus.request_name(CONSOLE_BUS_NAME)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            raise SimulatorError(f"could not own {CONSOLE_BUS_NAME} on the private bus ({reply.name})")


async def call_console(bus_address: str, member: str, body: list[Any], signature: str) -> dict[str, Any]:
    """Call the console of the treadsim serving ``bus_address``; the JSON answer, decoded.

    Raises UnknownTreadmillError / ConsoleCommandError for refusals, SimulatorError when no treadsim
    answers there."""
    try:
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    except (OSError, ValueError) as error:
        raise SimulatorError(f"cannot reach a treadsim bus at {bus_address!r}: {error}") from error
    try:
        reply = await bus.call(
            Message(
                destination=CONSOLE_BUS_NAME,
                path=CONSOLE_PATH,
                interface=CONSOLE_INTERFACE,
                member=member,
                signature=signature,
                body=body,
            )
        )
    finally:
        bus.disconnect()
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        text = str(reply.body[0]) if reply.body else reply.error_name or "error"
        if reply.error_name == ERROR_UNKNOWN_TREADMILL:
            raise UnknownTreadmillError(text)
        if reply.error_name == ERROR_INVALID_COMMAND:
            raise ConsoleCommandError(text)
        raise SimulatorError(f"the treadsim console did not answer ({reply.error_name}): {text}")
    decoded: dict[str, Any] = json.loads(reply.body[0])
    return decoded


async def perform_remote(bus_address: str, treadmill: int, action: str, argument: str = "") -> dict[str, Any]:
    return await call_console(bus_address, "Perform", [treadmill, action, argument], "iss")


async def describe_remote(bus_address: str) -> dict[str, Any]:
    return await call_console(bus_address, "Describe", [], "")

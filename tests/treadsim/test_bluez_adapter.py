"""The virtual adapter against UNMODIFIED bleak, with a tiny echo peripheral (no FTMS involved)."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from tests.plugins.virtual_adapter import (
    ECHO_CONTROL,
    ECHO_DATA,
    ECHO_READ_ONLY,
    ECHO_SERVICE,
    EchoPeripheral,
    wait_until,
)
from treadsim.bluez import PrivateBus, SimulatorError, VirtualAdapter
from treadsim.bluez.device import CCCD_UUID
from treadsim.bluez.objects import dbus_error_for_att
from treadsim.gatt import AttError

ADDRESS_A = "AA:BB:CC:DD:EE:01"
ADDRESS_B = "AA:BB:CC:DD:EE:02"


async def find(address: str, within: float = 3.0) -> BLEDevice:
    device = await BleakScanner.find_device_by_address(address, timeout=within)
    assert device is not None, f"{address} not found by the scanner"
    return device


async def test_scanner_sees_every_device_with_its_advertisement(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        adapter.add_peripheral(EchoPeripheral(ADDRESS_A, "Echo A", service_data=b"\x01\x01\x00"))
        adapter.add_peripheral(EchoPeripheral(ADDRESS_B, "Echo B", service_data=b"\x00\x01\x00"))
        seen: dict[str, tuple[str | None, dict[str, bytes], int]] = {}
        async with BleakScanner(service_uuids=[ECHO_SERVICE]) as scanner:
            async with asyncio.timeout(3):
                async for device, adv in scanner.advertisement_data():
                    seen[device.address] = (adv.local_name, adv.service_data, adv.rssi)
                    if len(seen) == 2:
                        break
        assert seen[ADDRESS_A][0] == "Echo A"
        assert seen[ADDRESS_A][1] == {ECHO_SERVICE: b"\x01\x01\x00"}
        assert seen[ADDRESS_B][1] == {ECHO_SERVICE: b"\x00\x01\x00"}
        assert -57 <= seen[ADDRESS_B][2] <= -55
        assert not adapter.discovering, "discovery must stop when the only scanner stops"


async def test_gatt_tree_follows_bluez_paths_and_handles(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        device = adapter.add_peripheral(EchoPeripheral(ADDRESS_A))
        assert device.path == "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01"
        async with BleakClient(await find(ADDRESS_A)) as client:
            service = client.services.get_service(ECHO_SERVICE)
            assert service is not None
            control = service.get_characteristic(ECHO_CONTROL)
            assert control is not None
            # service 0x000a, its first characteristic's declaration at 0x000b, its CCCD at 0x000d.
            assert control.obj[0] == device.path + "/service000a/char000b"
            assert control.handle == 0x000B
            assert sorted(control.properties) == ["indicate", "write"]
            assert [d.uuid for d in control.descriptors] == [CCCD_UUID]
            read_only = service.get_characteristic(ECHO_READ_ONLY)
            assert read_only is not None
            assert read_only.descriptors == []


async def test_read_write_indicate_and_notify_round_trip(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral, mtu=23)
        async with BleakClient(await find(ADDRESS_A)) as client:
            assert await client.read_gatt_char(ECHO_READ_ONLY) == b"hello"
            indications: asyncio.Queue[bytes] = asyncio.Queue()
            notifications: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(ECHO_CONTROL, lambda _c, v: indications.put_nowait(bytes(v)))
            await client.start_notify(ECHO_DATA, lambda _c, v: notifications.put_nowait(bytes(v)))
            assert peripheral.subscribed == {ECHO_CONTROL, ECHO_DATA}
            await client.write_gatt_char(ECHO_CONTROL, b"\x02\x64\x00", response=True)
            assert await asyncio.wait_for(indications.get(), 2) == b"\x80\x02\x64\x00"
            peripheral.notify_counter()
            peripheral.notify_counter()
            assert [await asyncio.wait_for(notifications.get(), 2) for _ in range(2)] == [
                b"\x01\x00",
                b"\x02\x00",
            ]
            await client.stop_notify(ECHO_DATA)
            assert peripheral.subscribed == {ECHO_CONTROL}
            peripheral.notify_counter()  # not subscribed any more: nothing may arrive
            # An indication sent after it does arrive; the bus keeps order, so the counter would be first.
            await client.write_gatt_char(ECHO_CONTROL, b"\x02\x65\x00", response=True)
            assert await asyncio.wait_for(indications.get(), 2) == b"\x80\x02\x65\x00"
            assert notifications.empty()
        assert device.counters.notifications == 4  # two indications + two notifications


async def test_att_errors_reach_bleak_with_their_codes(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        adapter.add_peripheral(peripheral)
        async with BleakClient(await find(ADDRESS_A)) as client:
            # Written before indications are enabled: the peripheral answers CCCD improperly configured.
            with pytest.raises(BleakGATTProtocolError) as cccd:
                await client.write_gatt_char(ECHO_CONTROL, b"\x07", response=True)
            assert cccd.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED
            await client.start_notify(ECHO_CONTROL, lambda _c, _v: None)
            # An application error code goes through BlueZ's generic "Operation failed with ATT error".
            with pytest.raises(BleakGATTProtocolError) as app_error:
                await client.write_gatt_char(ECHO_CONTROL, b"", response=True)
            assert app_error.value.code == 0x80
            # A characteristic without the write property: BlueZ refuses before anything is sent.
            with pytest.raises(BleakGATTProtocolError) as not_permitted:
                await client.write_gatt_char(ECHO_READ_ONLY, b"\x01", response=True)
            assert not_permitted.value.code is BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
            assert peripheral.writes == []  # nothing reached the peripheral's logic


async def test_disconnect_removes_gatt_objects_and_peripheral_sees_it(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral)
        client = BleakClient(await find(ADDRESS_A))
        await client.connect()
        assert device.is_connected
        assert device.services_resolved
        assert peripheral.connects == 1
        await client.disconnect()
        assert not device.is_connected
        assert not device.services_resolved
        assert peripheral.disconnects == 1
        assert peripheral.sink is None
        assert private_bus.running
        # dbus-fast lists what a bus exports only privately.
        exported = adapter.bus._path_exports  # noqa: SLF001 see above
        assert [p for p in exported if p.startswith(device.path + "/")] == []


async def test_dropped_link_is_reported_to_the_client(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral)
        lost = asyncio.Event()
        async with BleakClient(await find(ADDRESS_A), disconnected_callback=lambda _c: lost.set()) as client:
            await client.start_notify(ECHO_DATA, lambda _c, _v: None)
            old_sink = peripheral.sink
            assert old_sink is not None
            device.drop_link()
            await asyncio.wait_for(lost.wait(), 2)
            assert not client.is_connected
            assert peripheral.disconnects == 1
            old_sink.send(ECHO_DATA, b"\x09\x00")  # a sink from a dead link is inert
            # The device advertises again and takes a new connection.
            await client.connect()
            assert peripheral.connects == 2
            assert client.is_connected


async def test_peripheral_side_drop_via_sink(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        adapter.add_peripheral(peripheral)
        lost = asyncio.Event()
        async with BleakClient(await find(ADDRESS_A), disconnected_callback=lambda _c: lost.set()):
            assert peripheral.sink is not None
            peripheral.sink.drop()
            await asyncio.wait_for(lost.wait(), 2)


async def test_refused_connections_fail_like_an_unreachable_device(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral)
        ble_device = await find(ADDRESS_A)
        device.refuse_connections = True
        with pytest.raises(BleakDBusError) as refused:
            await BleakClient(ble_device).connect()
        assert refused.value.dbus_error == "org.bluez.Error.Failed"
        assert device.counters.refused_connects == 1
        assert peripheral.connects == 0
        device.refuse_connections = False
        async with BleakClient(ble_device) as client:
            assert client.is_connected


async def test_disappear_drops_the_link_and_return_makes_it_findable(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral)
        lost = asyncio.Event()
        async with BleakClient(await find(ADDRESS_A), disconnected_callback=lambda _c: lost.set()):
            device.disappear()
            await asyncio.wait_for(lost.wait(), 2)
        assert await BleakScanner.find_device_by_address(ADDRESS_A, timeout=0.7) is None
        device.appear()
        assert (await find(ADDRESS_A)).address == ADDRESS_A


async def test_advertisement_changes_are_signalled(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address, advertise_interval=0.05) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A, service_data=b"\x01\x01\x00")
        adapter.add_peripheral(peripheral)
        async with BleakScanner(service_uuids=[ECHO_SERVICE]) as scanner:
            await wait_until(lambda: ADDRESS_A in scanner.discovered_devices_and_advertisement_data, 3)
            peripheral.service_data = b"\x00\x01\x00"  # "machine not available"
            await wait_until(
                lambda: (
                    scanner.discovered_devices_and_advertisement_data[ADDRESS_A][1].service_data
                    == {ECHO_SERVICE: b"\x00\x01\x00"}
                ),
                3,
                "the new service data",
            )


async def test_bad_configuration_is_refused(private_bus: PrivateBus) -> None:
    with pytest.raises(SimulatorError, match="advertise interval"):
        VirtualAdapter(private_bus.address, advertise_interval=0)
    async with VirtualAdapter(private_bus.address) as adapter:
        adapter.add_peripheral(EchoPeripheral(ADDRESS_A))
        with pytest.raises(SimulatorError, match="already on the adapter"):
            adapter.add_peripheral(EchoPeripheral(ADDRESS_A.lower()))
        with pytest.raises(SimulatorError, match="MTU"):
            adapter.add_peripheral(EchoPeripheral(ADDRESS_B), mtu=22)
        assert len(adapter.devices) == 1


@pytest.mark.parametrize(
    ("code", "error_name", "text"),
    [
        (0x02, "org.bluez.Error.NotPermitted", "Read not permitted"),
        (0x03, "org.bluez.Error.NotPermitted", "Write not permitted"),
        (0x06, "org.bluez.Error.NotSupported", "Operation is not supported"),
        (0x0D, "org.bluez.Error.InvalidArguments", "Invalid Length"),
        (0xFD, "org.bluez.Error.ImproperlyConfigured", "CCC Improperly Configured"),
        (0xFE, "org.bluez.Error.Failed", "Operation failed with ATT error: 0xfe"),
        (0x80, "org.bluez.Error.Failed", "Operation failed with ATT error: 0x80"),
    ],
)
def test_att_error_to_bluez_error_table(code: int, error_name: str, text: str) -> None:
    error = dbus_error_for_att(AttError(code, "reason"))
    assert (error.type, error.text) == (error_name, text)


async def test_remove_device_forgets_it_until_it_advertises_again(private_bus: PrivateBus) -> None:
    async with VirtualAdapter(private_bus.address, advertise_interval=0.1) as adapter:
        peripheral = EchoPeripheral(ADDRESS_A)
        device = adapter.add_peripheral(peripheral)
        bus = await MessageBus(bus_address=private_bus.address, bus_type=BusType.SYSTEM).connect()
        try:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path=adapter.path,
                    interface="org.bluez.Adapter1",
                    member="RemoveDevice",
                    signature="o",
                    body=[device.path],
                )
            )
            assert reply is not None
            assert reply.message_type is MessageType.METHOD_RETURN
            assert not device.present
            again = await bus.call(
                Message(
                    destination="org.bluez",
                    path=adapter.path,
                    interface="org.bluez.Adapter1",
                    member="RemoveDevice",
                    signature="o",
                    body=[device.path],
                )
            )
            assert again is not None
            assert again.error_name == "org.bluez.Error.DoesNotExist"
        finally:
            bus.disconnect()
        await wait_until(lambda: device.present, 2, "the device to advertise again")

"""The service's MQTT connection sends each packet at once (TCP_NODELAY): with Nagle's algorithm a fleet's
telemetry waited for the broker's delayed ACKs, 25 ms at the median with 1000 treadmills."""

from __future__ import annotations

import os
import socket

from aiomqtt import Will

from retrowalk.mqtt.connection import ProtocolChoice, open_client

from .mqtt_broker import Mosquitto
from .mqtt_helpers import settings_for


def sockets_to(port: int) -> list[socket.socket]:
    """This process's TCP sockets connected to ``port`` on localhost (duplicates: the caller closes)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            dup = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue  # not a socket
        try:
            peer = dup.getpeername()
        except OSError:
            dup.close()
            continue
        if dup.type == socket.SOCK_STREAM and peer == ("127.0.0.1", port):
            found.append(dup)
        else:
            dup.close()
    return found


async def test_the_services_mqtt_socket_sends_without_nagles_delay(mosquitto: Mosquitto) -> None:
    will = Will("nodelay-test/availability", b"offline")
    async with open_client(
        settings_for(mosquitto), client_id="nodelay", will=will, protocols=ProtocolChoice("auto")
    ):
        connected = sockets_to(mosquitto.port)
        try:
            assert len(connected) == 1
            assert connected[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            for dup in connected:
                dup.close()

"""Telemetry on its way to the broker: QoS 0, handed to the connection at once, never queued across an outage.

Telemetry is the one message the bridge sends for every sample of every treadmill, and the only one
nobody waits on: a sample lost in an outage is replaced by the next a second later. So it skips the
bridge's queues and sender tasks: each sample is written to the socket as it is published, and only when
the socket is full does it wait for the event loop to write it with the others waiting. What bounds it
instead of a queue is the number of samples handed over but not yet written: a broker that stops
reading (a stalled link, a full socket) costs at most :data:`UNWRITTEN_LIMIT` samples of memory, and
samples beyond that are dropped and counted, as they are while no connection is up.
"""

from __future__ import annotations

import logging
from collections import deque

import paho.mqtt.client as mqtt

from retrowalk.mqtt.aiomqtt_private import AckCheckingClient

__all__ = ["UNWRITTEN_LIMIT", "TelemetryOut"]

log = logging.getLogger(__name__)

# 1 s of 1000 treadmills at 1 Hz (10 s of 100): a broker that far behind is too slow anyway.
UNWRITTEN_LIMIT = 1000


class TelemetryOut:
    """Hands telemetry to the current connection, if any; counts what it had to drop."""

    def __init__(self, unwritten_limit: int = UNWRITTEN_LIMIT) -> None:
        self._limit = unwritten_limit
        self._client: AckCheckingClient | None = None
        # Handed over, oldest first; paho writes in this order, so the written ones are at the front.
        self._unwritten: deque[mqtt.MQTTMessageInfo] = deque()
        self.dropped = 0

    @property
    def unwritten(self) -> int:
        """Samples handed to the connection that it has not written yet."""
        while self._unwritten and self._unwritten[0].is_published():
            self._unwritten.popleft()
        return len(self._unwritten)

    def attach(self, client: AckCheckingClient) -> None:
        """A connection is up: send through it from now on."""
        self._client = client
        self._unwritten.clear()

    def detach(self) -> None:
        """The connection is gone: what it had not written is gone with it; drop until the next one."""
        self._client = None
        self._unwritten.clear()

    def send(self, topic: str, payload: bytes) -> None:
        """Hand one retained sample to the connection, or count it as dropped. Never raises."""
        client = self._client
        if client is None or self.unwritten >= self._limit:
            self.dropped += 1
            return
        try:
            info = client.publish_at_most_once(topic, payload, retain=True)
        except (ValueError, OSError) as exc:
            # paho refuses a topic it cannot send, and a socket closing under us fails the write
            # registration; neither may reach the runner that published the sample.
            log.warning("mqtt: telemetry on %s not sent: %s", topic, exc)
            self.dropped += 1
            return
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._unwritten.append(info)
        else:
            self.dropped += 1  # no connection after all (paho noticed the loss first)

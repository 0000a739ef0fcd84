"""The MQTT API of retrowalk: telemetry, events, summaries, kiosk commands, Home Assistant discovery.

See docs/mqtt.md for the topic tree and payloads.
"""

from retrowalk.mqtt.bridge import BridgeStatus, MqttBridge
from retrowalk.mqtt.commands import Command, CommandHandler, CommandReply
from retrowalk.mqtt.settings import BrokerSettings, TlsSettings

__all__ = [
    "BridgeStatus",
    "BrokerSettings",
    "Command",
    "CommandHandler",
    "CommandReply",
    "MqttBridge",
    "TlsSettings",
]

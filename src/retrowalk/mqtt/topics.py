"""The topic tree, in one place so that the docs, the ACL example and the code cannot drift apart.

<prefix>service/<service_id>/availability   "online"/"offline", retained, last will "offline"
<prefix>treadmill/<id>/availability         "online"/"offline", retained
<prefix>treadmill/<id>/state                TreadmillState, retained, QoS 1
<prefix>treadmill/<id>/telemetry            Telemetry, QoS 0
<prefix>treadmill/<id>/event                Event, QoS 1, through the outbox
<prefix>treadmill/<id>/summary              SessionSummary, QoS 1, through the outbox
<prefix>treadmill/<id>/command              Command (kiosk -> service), never retained; not clearances
<prefix>treadmill/<id>/command/staff        Command, clearances included: the ACL gives it to staff only
<prefix>treadmill/<id>/reply                CommandReply, QoS 1
<discovery_prefix>/device/retrowalk_<id>/config   Home Assistant device discovery, retained
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COMMAND_LEAF", "STAFF_COMMAND_LEAF", "Topics", "valid_id"]

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
COMMAND_LEAF = "command"
# Clearances unblock a person a clinician must see first, so they have a topic of their own: a broker
# ACL can grant a topic, but cannot tell command types apart on one.
STAFF_COMMAND_LEAF = "command/staff"


def valid_id(value: str) -> bool:
    """Ids become topic levels and ACL patterns: letters, digits, '_' and '-' only."""
    return bool(_ID_RE.match(value))


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    discovery_prefix: str
    service_id: str

    @property
    def service_availability(self) -> str:
        return f"{self.prefix}service/{self.service_id}/availability"

    @property
    def command_subscriptions(self) -> tuple[str, str]:
        return (f"{self.prefix}treadmill/+/{COMMAND_LEAF}", f"{self.prefix}treadmill/+/{STAFF_COMMAND_LEAF}")

    def treadmill(self, treadmill_id: str, leaf: str) -> str:
        return f"{self.prefix}{self.treadmill_suffix(treadmill_id, leaf)}"

    @staticmethod
    def treadmill_suffix(treadmill_id: str, leaf: str) -> str:
        # The outbox stores topics without the prefix, so a prefix change in the config between a crash
        # and a restart still delivers pending events under the new prefix.
        return f"treadmill/{treadmill_id}/{leaf}"

    def discovery(self, treadmill_id: str) -> str:
        return f"{self.discovery_prefix}/device/retrowalk_{treadmill_id}/config"

    def command_treadmill(self, topic: str) -> str | None:
        """The treadmill id of a command topic (the ordinary or the staff one), or None when the topic is
        not one of ours."""
        head = f"{self.prefix}treadmill/"
        if not topic.startswith(head):
            return None
        for leaf in (COMMAND_LEAF, STAFF_COMMAND_LEAF):
            if topic.endswith("/" + leaf):
                treadmill_id = topic[len(head) : -len(leaf) - 1]
                return treadmill_id if valid_id(treadmill_id) else None
        return None

    @staticmethod
    def is_staff_command(topic: str) -> bool:
        """True for a staff command topic; which clients may publish there is the broker ACL's call."""
        return topic.endswith("/" + STAFF_COMMAND_LEAF)

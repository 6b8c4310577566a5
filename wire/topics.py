"""MQTT topic names of docs/architecture.md, built and parsed in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# A tablet id is also a certificate CN and a topic level: no wildcards, slashes or spaces.
DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_DEVICE_ID = re.compile(rf"^{DEVICE_ID_PATTERN}$")


class TabletChannel(StrEnum):
    DESIRED = "desired"
    CMD = "cmd"
    REPORTED = "reported"
    ACK = "ack"
    TELEMETRY = "telemetry"
    STATUS = "status"
    REQUEST = "request"
    """A prisoner's request (application or complaint), tablet → gateway, QoS 1, not retained."""
    REPLY = "reply"
    """Staff's signed answer to one request, gateway → tablet, QoS 1, not retained."""
    PERSON = "person"
    """What the tablet learned of a person (sign-in, PIN, settings), tablet → gateway, QoS 1,
    not retained (wire.prisoners.PersonEvent)."""


TO_TABLET = frozenset({TabletChannel.DESIRED, TabletChannel.CMD, TabletChannel.REPLY})
FROM_TABLET = frozenset(
    {TabletChannel.REPORTED, TabletChannel.ACK, TabletChannel.TELEMETRY, TabletChannel.STATUS,
     TabletChannel.REQUEST, TabletChannel.PERSON}
)

WING_POLICY = "wing/policy"
WING_LOCKDOWN = "wing/lockdown"
WING_TIME = "wing/time"
WING_ALL = "wing/#"


def is_device_id(value: str) -> bool:
    return bool(_DEVICE_ID.match(value))


def check_device_id(value: str) -> str:
    """Return `value` if it is a valid tablet id, else raise ValueError saying why."""
    if not is_device_id(value):
        raise ValueError(
            f"invalid tablet id {value!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return value


def tablet(device_id: str, channel: TabletChannel) -> str:
    return f"tablet/{check_device_id(device_id)}/{channel.value}"


def tablet_filter(channel: TabletChannel) -> str:
    """The gateway's subscription for one channel of every tablet."""
    return f"tablet/+/{channel.value}"


@dataclass(frozen=True, slots=True)
class TabletTopic:
    device_id: str
    channel: TabletChannel


def parse_tablet(topic: str) -> TabletTopic | None:
    """Parse `tablet/{id}/{channel}`; None for anything else (never raises)."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "tablet" or not is_device_id(parts[1]):
        return None
    try:
        return TabletTopic(parts[1], TabletChannel(parts[2]))
    except ValueError:
        return None

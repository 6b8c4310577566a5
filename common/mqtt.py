"""The one way agent and gateway connect to their wing broker: MQTT 5 over aiomqtt (paho-mqtt
2.x), optional mutual TLS, and a reconnect loop with jittered exponential backoff (tenacity), so a
whole wing does not reconnect in the same instant after a broker restart."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    wait_random_exponential,
)

from common.config import Settings

log = logging.getLogger(__name__)

# A session that stayed up this long was healthy: the next outage starts its backoff afresh.
HEALTHY_SESSION_S = 30.0

# MQTT 5 DISCONNECT reason "session taken over": another client connected with our identity.
SESSION_TAKEN_OVER = 0x8E
# After a takeover, wait this long (doubling per consecutive takeover, up to TAKEOVER_BACKOFF_MAX_S)
# before taking the identity back: an intruder or a twin that reconnects at once must not make the
# two of us throw each other off in a tight loop.
TAKEOVER_BACKOFF_S = 5.0
TAKEOVER_BACKOFF_MAX_S = 300.0

# Without it, Nagle's algorithm and delayed ACKs add ~40 ms to every small QoS 1 exchange.
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


class TlsConfig(Settings):
    ca: Path
    cert: Path
    key: Path


class BrokerConfig(Settings):
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 30
    tls: TlsConfig | None = None
    backoff_max_s: float = 30.0
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a connect, subscribe or acknowledged publish may wait for the broker before the
    connection is given up (and retried with backoff)."""


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """Client context for mutual TLS: verify the broker against our CA, present our cert."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.cert), str(tls.key))
    return context


MISC_PERIOD_S = 5.0
"""Longest pause between two of paho's housekeeping calls (`loop_misc`: keepalive pings and
their timeouts): aiomqtt calls it every second, 60 wake-ups a minute of an idle tablet."""


class Client(aiomqtt.Client):
    """aiomqtt's client with its housekeeping tick at a quarter of the keepalive (at most
    `MISC_PERIOD_S`): a ping still goes out well inside the broker's 1.5 × keepalive, and a
    broker that stopped answering is noticed at most that much later."""

    def __init__(self, *args: Any, keepalive: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, keepalive=keepalive, **kwargs)
        self._misc_period_s = min(MISC_PERIOD_S, max(0.25, keepalive / 4))

    async def _misc_loop(self) -> None:
        while self._client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
            await asyncio.sleep(self._misc_period_s)


def make_client(
    broker: BrokerConfig,
    identifier: str,
    *,
    persistent_session_s: int | None = None,
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    """An MQTT 5 client. With `persistent_session_s` the broker keeps the session (and queued
    QoS 1 messages) that long across disconnects: clean_start is off, unlike paho's default."""
    properties = None
    if persistent_session_s is not None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = persistent_session_s
    return Client(
        broker.host,
        broker.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=persistent_session_s is None,
        properties=properties,
        keepalive=broker.keepalive,
        will=will,
        tls_context=tls_context(broker.tls) if broker.tls else None,
        timeout=broker.timeout_s,
        socket_options=NODELAY,
    )


class SessionTakenOver(aiomqtt.MqttError):
    """Raised by a session that inferred a takeover the broker did not name: Mosquitto before
    2.0.15 closes the old connection without DISCONNECT 0x8E (eclipse-mosquitto/mosquitto#2607),
    so a client sees only the connection close."""


def disconnect_reason(error: BaseException) -> int | None:
    """The MQTT reason code the broker gave for ending our session, if `error` (or what caused
    it) carries one: aiomqtt raises a plain MqttError from the MqttCodeError that holds it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiomqtt.MqttCodeError) and current.rc is not None:
            rc = current.rc
            return int(rc.value) if hasattr(rc, "value") else int(rc)
        current = current.__cause__ or current.__context__
    return None


def was_taken_over(error: BaseException) -> bool:
    """The broker ended our session because another client connected with our identity (it
    said so with reason 0x8E, or the session inferred it and raised SessionTakenOver)."""
    if isinstance(error, SessionTakenOver):
        return True
    return disconnect_reason(error) == SESSION_TAKEN_OVER


def takeover_backoff_s(count: int, base_s: float = TAKEOVER_BACKOFF_S) -> float:
    """How long to stay away after the `count`-th consecutive takeover (1, 2, ...)."""
    return min(TAKEOVER_BACKOFF_MAX_S, base_s * 2 ** max(0, count - 1))


async def run_reconnecting(
    session: Callable[[], Awaitable[None]],
    *,
    backoff_max_s: float = 30.0,
    name: str = "mqtt",
    on_taken_over: Callable[[int], Awaitable[None]] | None = None,
    takeover_base_s: float = TAKEOVER_BACKOFF_S,
) -> None:
    """Run `session` forever, reconnecting with jittered exponential backoff.

    `session` connects and serves until the connection fails (raising `aiomqtt.MqttError`). The
    backoff starts afresh after a session that stayed up `HEALTHY_SESSION_S`. A session the
    broker ended as taken over (reason 0x8E) is reported to `on_taken_over` with the count of
    consecutive takeovers, and the next connect waits `takeover_backoff_s(count)`: longer, so two
    holders of one identity do not fight in a loop. Cancel the task to stop.
    """
    takeovers = 0
    while True:

        def log_retry(state: object) -> None:
            outcome = getattr(state, "outcome", None)
            log.info("%s: connection failed (%s); retrying", name, outcome and outcome.exception())

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(aiomqtt.MqttError),
            wait=wait_random_exponential(multiplier=0.5, max=backoff_max_s),
            before_sleep=log_retry,
        )
        try:
            await retrying(_until_healthy_drop, session)
        except _HealthySessionEnded:
            takeovers = 0
            # Even after a healthy session, spread a wing's reconnects over the first window.
            await asyncio.sleep(random.uniform(0, 1.0))
        except _TakenOver:
            takeovers += 1
            wait_s = takeover_backoff_s(takeovers, takeover_base_s)
            log.warning("%s: session taken over by another client with our identity (%d in a "
                        "row); reconnecting in %.0f s", name, takeovers, wait_s)
            if on_taken_over is not None:
                await on_taken_over(takeovers)
            await asyncio.sleep(wait_s + random.uniform(0, 1.0))


class _HealthySessionEnded(Exception):
    pass


class _TakenOver(Exception):
    """Not an MqttError: tenacity must not retry it on its short backoff."""


async def _until_healthy_drop(session: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    attempt_started = loop.time()
    try:
        await session()
    except aiomqtt.MqttError as error:
        if was_taken_over(error):
            raise _TakenOver from error
        if loop.time() - attempt_started >= HEALTHY_SESSION_S:
            raise _HealthySessionEnded from None
        raise
    # A session that returns normally ended on purpose: reconnect like after a healthy drop.
    raise _HealthySessionEnded

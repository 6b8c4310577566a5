"""The agent's MQTT session with its wing: subscribe, say `online` (the last will says
`offline`), hand every message to the agent in order, publish `reported` and acks, and reconnect
with jittered backoff (`common.mqtt.run_reconnecting`) for as long as it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal

import aiomqtt

from agent.config import AgentConfig
from common.mqtt import make_client, run_reconnecting
from wire import topics
from wire.documents import Ack, ReportedState, Status

OnMessage = Callable[[str, bytes], Awaitable[None]]
OnConnection = Callable[[aiomqtt.Client | None], None]


def _raise_if_cancelling() -> None:
    """Python 3.11's `wait_for` (inside aiomqtt's publish) can swallow a cancel that lands just as
    the PUBACK arrives; without this the agent would wait for the next message before stopping."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class WingSession:
    def __init__(
        self,
        config: AgentConfig,
        *,
        boot_id: str,
        now_ms: Callable[[], int],
        on_message: OnMessage,
        report: Callable[[], ReportedState],
        on_connection: OnConnection,
    ) -> None:
        """`report` builds the `reported` document; `on_connection` hears the client when the
        session is up and None when it ends."""
        self.config = config
        self._boot_id = boot_id
        self._now_ms = now_ms
        self._on_message = on_message
        self._report = report
        self._on_connection = on_connection
        device = config.device_id
        self._topic_status = topics.tablet(device, topics.TabletChannel.STATUS)
        self._topic_reported = topics.tablet(device, topics.TabletChannel.REPORTED)
        self._topic_ack = topics.tablet(device, topics.TabletChannel.ACK)
        self.topic_cmd = topics.tablet(device, topics.TabletChannel.CMD)
        self._subscriptions = [
            (topics.tablet(device, topics.TabletChannel.DESIRED), 1), (self.topic_cmd, 1),
            (topics.WING_ALL, 1), (topics.tablet(device, topics.TabletChannel.REPLY), 1),
        ]
        self._client: aiomqtt.Client | None = None
        self.connected = False

    async def run(self) -> None:
        """Serve, reconnecting, until cancelled."""
        await run_reconnecting(
            self._session, backoff_max_s=self.config.broker.backoff_max_s,
            name=self.config.device_id,
        )

    async def publish_reported(self) -> None:
        client = self._client
        if client is not None:
            await client.publish(
                self._topic_reported, self._report().model_dump_json().encode(), qos=1,
                retain=True,
            )

    async def ack(self, ack: Ack) -> None:
        client = self._client
        if client is not None:
            await client.publish(self._topic_ack, ack.model_dump_json().encode(), qos=1)

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        document = Status(state=state, boot_id=self._boot_id, at=self._now_ms())
        return document.model_dump_json().encode()

    async def _session(self) -> None:
        will = aiomqtt.Will(self._topic_status, self._status("offline"), qos=1, retain=True)
        client = make_client(
            self.config.broker,
            self.config.device_id,
            persistent_session_s=self.config.session_expiry_s,
            will=will,
        )
        async with client:
            await client.subscribe(self._subscriptions)
            await client.publish(self._topic_status, self._status("online"), qos=1, retain=True)
            self._client = client
            try:
                await self.publish_reported()
                self.connected = True
                self._on_connection(client)
                _raise_if_cancelling()
                async for message in client.messages:
                    payload = message.payload
                    raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
                    await self._on_message(str(message.topic), raw)
                    _raise_if_cancelling()
            except asyncio.CancelledError:
                # Stopping on purpose: say so, since a clean disconnect sends no will.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        client.publish(
                            self._topic_status, self._status("offline"), qos=1, retain=True
                        ),
                        1.0,
                    )
                raise
            finally:
                self._client = None
                self.connected = False
                self._on_connection(None)

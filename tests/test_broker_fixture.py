"""The broker fixture is the wing's real mosquitto over mutual TLS: a message published is
received, by identities the demo estate issued; the plain-TCP broker is still there for
comparisons."""

import asyncio

import aiomqtt


async def test_a_message_published_on_the_broker_is_received(broker):
    gateway = broker.context(broker.gateway_tls())
    tablet = broker.context(broker.tablet_tls("T1"))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=gateway) as sub, aiomqtt.Client(
        broker.host, broker.port, tls_context=tablet
    ) as pub:
        await sub.subscribe("tablet/+/status", qos=1)
        await pub.publish("tablet/T1/status", b"hello", qos=1)
        message = await asyncio.wait_for(anext(sub.messages), 5)
        assert message.payload == b"hello"
        assert str(message.topic) == "tablet/T1/status"


async def test_the_plain_broker_takes_anonymous_clients(plain_broker):
    async with aiomqtt.Client(plain_broker.host, plain_broker.port) as sub, aiomqtt.Client(
        plain_broker.host, plain_broker.port
    ) as pub:
        await sub.subscribe("probe/#", qos=1)
        await pub.publish("probe/x", b"hello", qos=1)
        message = await asyncio.wait_for(anext(sub.messages), 5)
        assert message.payload == b"hello"

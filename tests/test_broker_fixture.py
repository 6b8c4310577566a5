"""The broker fixture is a real mosquitto: a message published is received."""

import asyncio

import aiomqtt


async def test_a_message_published_on_the_broker_is_received(broker):
    async with aiomqtt.Client(broker.host, broker.port) as sub, aiomqtt.Client(
        broker.host, broker.port
    ) as pub:
        await sub.subscribe("probe/#", qos=1)
        await pub.publish("probe/x", b"hello", qos=1)
        message = await asyncio.wait_for(anext(sub.messages), 5)
        assert message.payload == b"hello"
        assert str(message.topic) == "probe/x"

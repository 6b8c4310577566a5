"""The wing broker, run with the configuration `provision wing` generates, over real mutual TLS:
who may connect at all, and what an enrolled tablet may publish and receive."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl

import aiomqtt
import pytest

from common.mqtt import TlsConfig, tls_context
from provisioning import estate as est
from tests.provisioning.conftest import WING, Wing, make_estate


def client(wing: Wing, context: ssl.SSLContext, identifier: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        wing.broker.host,
        wing.broker.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=context,
        timeout=10,
    )


def tls_refusal(wing: Wing, context: ssl.SSLContext, read_timeout: float = 5.0) -> str:
    """The TLS alert the broker answers a client certificate with. Under TLS 1.3 the broker
    judges the client's certificate after the client's side of the handshake is done, so the
    verdict arrives on the first read; a certificate it accepted would leave that read waiting
    (and this raise TimeoutError)."""
    with (
        socket.create_connection((wing.broker.host, wing.broker.port), timeout=read_timeout) as raw,
        context.wrap_socket(raw, server_hostname=wing.broker.host) as tls,
    ):
        try:
            tls.recv(1)
        except ssl.SSLError as refused:
            return str(refused.reason)
    raise AssertionError("the broker closed the connection without a TLS alert")


def refusal_after_reload(wing: Wing, context: ssl.SSLContext) -> str:
    """The broker handles SIGHUP in its main loop, a moment after the signal: ask until it has
    (bounded), then report its verdict."""
    for _ in range(40):
        try:
            return tls_refusal(wing, context, read_timeout=0.25)
        except TimeoutError:
            continue
    raise AssertionError("the broker still accepts the certificate after its reload")


def with_identity(wing: Wing, cert_dir_tls: TlsConfig) -> ssl.SSLContext:
    """Trust the wing's broker, present `cert_dir_tls`'s certificate and key."""
    return tls_context(
        TlsConfig(ca=wing.tablet_tls("A").ca, cert=cert_dir_tls.cert, key=cert_dir_tls.key)
    )


async def next_message(c: aiomqtt.Client) -> aiomqtt.Message:
    return await asyncio.wait_for(anext(c.messages), 10)


async def test_an_enrolled_tablet_connects_and_exchanges_messages_with_its_gateway(
    wing: Wing,
) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("A"), "A") as tablet,
    ):
        await gateway.subscribe("tablet/+/reported", qos=1)
        await tablet.subscribe("tablet/A/desired", qos=1)
        await tablet.publish("tablet/A/reported", b"applied", qos=1)
        received = await next_message(gateway)
        assert (str(received.topic), received.payload) == ("tablet/A/reported", b"applied")
        await gateway.publish("tablet/A/desired", b"lock", qos=1)
        received = await next_message(tablet)
        assert (str(received.topic), received.payload) == ("tablet/A/desired", b"lock")


def test_a_client_without_a_certificate_is_refused(wing: Wing) -> None:
    context = ssl.create_default_context(cafile=str(wing.tablet_tls("A").ca))
    assert "CERTIFICATE_REQUIRED" in tls_refusal(wing, context)


def test_a_certificate_from_another_estate_is_refused(wing: Wing, tmp_path) -> None:
    other = make_estate(tmp_path / "other-estate", tablets=("A",))
    stranger = TlsConfig(
        ca=other.bundles / "A" / "ca.pem",
        cert=other.bundles / "A" / "tablet.pem",
        key=other.bundles / "A" / "tablet.key",
    )
    assert "UNKNOWN_CA" in tls_refusal(wing, with_identity(wing, stranger))


def test_an_expired_certificate_is_refused(wing: Wing) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    est.enrol(
        wing.estate,
        [est.EnrolRequest("OLD", WING, "cell-9")],
        None,
        enrolled_by="tester",
        not_before=long_ago,
        validity_days=30,
    )
    assert "CERTIFICATE_EXPIRED" in tls_refusal(wing, wing.tablet_context("OLD"))


async def test_a_revoked_certificate_is_refused_after_revoke_and_reload(wing: Wing) -> None:
    async with client(wing, wing.tablet_context("A"), "A"):
        pass  # accepted before
    est.revoke(wing.estate, "A", "lost on the landing", None)
    assert est.publish_crl(wing.estate, WING, wing.broker_dir) == wing.broker.process.pid
    assert "CERTIFICATE_REVOKED" in refusal_after_reload(wing, wing.tablet_context("A"))


async def test_revoking_one_tablet_leaves_the_others_connected(wing: Wing) -> None:
    est.revoke(wing.estate, "A", "lost", None)
    est.publish_crl(wing.estate, WING, wing.broker_dir)
    assert "CERTIFICATE_REVOKED" in refusal_after_reload(wing, wing.tablet_context("A"))
    async with client(wing, wing.tablet_context("B"), "B") as tablet:
        await tablet.publish("tablet/B/status", b"online", qos=1)


@pytest.mark.parametrize(
    "forged_topic",
    [
        "tablet/B/reported",
        "tablet/B/ack",
        "tablet/B/status",
        "tablet/B/telemetry",
        "tablet/B/request",
        "tablet/A/reply",
        "wing/lockdown",
        "wing/policy",
    ],
)
async def test_a_tablet_cannot_publish_as_another_tablet_or_as_the_wing(
    wing: Wing, forged_topic: str
) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("A"), "A") as tablet,
    ):
        await gateway.subscribe("tablet/#", qos=1)
        await gateway.subscribe("wing/#", qos=1)
        await tablet.publish(forged_topic, b"forged", qos=1)
        # Messages from one client reach a subscriber in order: the sentinel comes after
        # the forged message, had the broker let it through.
        await tablet.publish("tablet/A/telemetry", b"sentinel", qos=1)
        received = await next_message(gateway)
        assert (str(received.topic), received.payload) == ("tablet/A/telemetry", b"sentinel")


@pytest.mark.parametrize("channel", ["reported", "ack", "telemetry", "status", "request"])
async def test_a_tablet_may_publish_on_its_own_channels(wing: Wing, channel: str) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("A"), "A") as tablet,
    ):
        await gateway.subscribe("tablet/#", qos=1)
        await tablet.publish(f"tablet/A/{channel}", b"mine", qos=1)
        received = await next_message(gateway)
        assert str(received.topic) == f"tablet/A/{channel}"


@pytest.mark.parametrize(
    "subscription",
    ["tablet/B/desired", "tablet/B/cmd", "tablet/B/reply", "tablet/+/desired", "tablet/#", "#"],
)
async def test_a_tablet_receives_nothing_meant_for_another_tablet(
    wing: Wing, subscription: str
) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("A"), "A") as tablet,
    ):
        await tablet.subscribe(subscription, qos=1)
        await tablet.subscribe("tablet/A/desired", qos=1)
        await gateway.publish("tablet/B/desired", b"B's state", qos=1)
        await gateway.publish("tablet/B/cmd", b"B's job", qos=1)
        await gateway.publish("tablet/B/reply", b"B's answer", qos=1)
        await gateway.publish("tablet/A/desired", b"sentinel", qos=1)
        received = await next_message(tablet)
        assert (str(received.topic), received.payload) == ("tablet/A/desired", b"sentinel")


async def test_a_tablet_receives_its_own_channels_and_the_wing(wing: Wing) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("A"), "A") as tablet,
    ):
        for topic in ("tablet/A/desired", "tablet/A/cmd", "tablet/A/reply", "wing/#"):
            await tablet.subscribe(topic, qos=1)
        sent = [("tablet/A/desired", b"1"), ("tablet/A/cmd", b"2"), ("tablet/A/reply", b"4"),
                ("wing/lockdown", b"3")]
        for topic, payload in sent:
            await gateway.publish(topic, payload, qos=1)
        received = [await next_message(tablet) for _ in sent]
        assert [(str(m.topic), m.payload) for m in received] == sent


async def test_a_client_id_spoofed_as_another_tablet_is_forced_back_to_its_own_identity(
    wing: Wing,
) -> None:
    async with (
        client(wing, wing.gateway_context(), "gw") as gateway,
        client(wing, wing.tablet_context("B"), "B") as real_b,
    ):
        await real_b.subscribe("tablet/B/desired", qos=1)
        async with client(wing, wing.tablet_context("A"), "B") as spoofer:
            # Had the broker taken "B" as A's client id, it would have thrown the real B
            # off (session takeover); B still receives its own desired state.
            await gateway.publish("tablet/B/desired", b"for the real B", qos=1)
            received = await next_message(real_b)
            assert received.payload == b"for the real B"
            # and the spoofer is still only A: it cannot write B's channels.
            await gateway.subscribe("tablet/#", qos=1)
            await spoofer.publish("tablet/B/reported", b"forged", qos=1)
            await spoofer.publish("tablet/A/reported", b"sentinel", qos=1)
            received = await next_message(gateway)
            assert (str(received.topic), received.payload) == ("tablet/A/reported", b"sentinel")
    assert "as A (p5" in wing.broker.log_path.read_text()


async def test_an_operator_identity_has_full_access_beside_the_gateway(
    tmp_path, broker_dir
) -> None:
    from common.broker import Mosquitto, free_port
    from provisioning.demo_estate import DemoEstate

    demo = DemoEstate(tmp_path / "demo")
    port = free_port()
    broker = Mosquitto(
        broker_dir, port, config=demo.install_broker(broker_dir, port).read_text()
    ).start()
    try:
        wing = Wing(demo.estate, broker, broker_dir)
        async with (
            client(wing, tls_context(demo.gateway_tls()), "gw") as gateway,
            client(wing, tls_context(demo.operator_tls()), "observer") as observer,
            client(wing, tls_context(demo.tablet_tls("T9")), "T9") as tablet,
        ):
            await observer.subscribe("tablet/#", qos=1)
            await gateway.subscribe("tablet/#", qos=1)
            await tablet.publish("tablet/T9/status", b"online", qos=1)
            seen = [await next_message(observer), await next_message(gateway)]
            assert [m.payload for m in seen] == [b"online", b"online"]
    finally:
        broker.kill()


async def test_a_message_larger_than_anything_on_the_wire_never_reaches_the_gateway(
    wing: Wing,
) -> None:
    async with client(wing, wing.gateway_context(), "gw") as gateway:
        await gateway.subscribe("tablet/#", qos=1)
        async with client(wing, wing.tablet_context("A"), "A") as tablet:
            # The broker drops the client that sends it; the publish may or may not see that.
            with contextlib.suppress(aiomqtt.MqttError):
                await tablet.publish("tablet/A/telemetry", b"x" * (2 * 1024 * 1024), qos=1,
                                     timeout=5)
        async with client(wing, wing.tablet_context("A"), "A") as again:
            await again.publish("tablet/A/telemetry", b"sentinel", qos=1)
            received = await next_message(gateway)
        assert received.payload == b"sentinel"

"""Revocation ends a revoked tablet's live session, not only its next connect (issue 13, defect
6): `provision revoke` writes the CRL and `revoked.json`; the wing gateway, watching the list,
has the broker's dynamic-security plugin disable the tablet, and the broker disconnects it at
once. Measured here on the real broker and gateway: from `provision revoke` to the end of the
session, at most 5 s; the tablet stays out, and its neighbours are untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from common.mqtt import TlsConfig
from provisioning import estate as est
from tests.provisioning.conftest import WING, Wing
from tests.provisioning.test_broker_mtls import client, next_message, refusal_after_reload
from tests.provisioning.test_cli import ok, run
from tests.support.gateway import Gateway

REVOCATION_ENDS_SESSION_S = 5.0


@pytest.fixture
def gateway(wing: Wing, tmp_path: Path) -> Iterator[Gateway]:
    material = wing.estate.gateway_material(WING)
    gateway = Gateway(
        tmp_path / "gateway", wing.broker.host, wing.broker.port, wing=WING,
        tablets=[("A", "cell-A", "L1"), ("B", "cell-B", "L1")],
        tls=TlsConfig(ca=material / "ca.pem", cert=material / "client.pem",
                      key=material / "client.key"),
        revoked_list=wing.estate.broker_material(WING) / "revoked.json",
    ).start()
    try:
        yield gateway
    finally:
        gateway.close()


async def session_end(tablet: aiomqtt.Client) -> float:
    """The monotonic time at which the broker ended `tablet`'s session."""
    try:
        async for _message in tablet.messages:
            pass
    except aiomqtt.MqttError:
        return time.monotonic()
    raise AssertionError("the message stream ended without a disconnect")


@pytest.mark.serial  # a time bound (the CLI's start-up included): measured on a quiet machine
async def test_provision_revoke_ends_a_connected_tablets_session_within_five_seconds(
    wing: Wing, gateway: Gateway
) -> None:
    async with (
        client(wing, wing.tablet_context("A"), "A") as revoked_tablet,
        client(wing, wing.tablet_context("B"), "B") as neighbour,
    ):
        await revoked_tablet.subscribe("tablet/A/desired", qos=1)
        await neighbour.subscribe("tablet/B/desired", qos=1)
        # Both are served: the gateway's retained desired state reaches each.
        assert str((await next_message(revoked_tablet)).topic) == "tablet/A/desired"
        assert str((await next_message(neighbour)).topic) == "tablet/B/desired"
        ended = asyncio.create_task(session_end(revoked_tablet))

        started = time.monotonic()
        result = await asyncio.to_thread(
            run, wing.estate.root, "revoke", "--device", "A", "--reason", "found jailbroken",
            "--broker-dir", str(wing.broker_dir), passphrase=None)
        ok(result)
        took = await asyncio.wait_for(ended, 2 * REVOCATION_ENDS_SESSION_S) - started

        assert took <= REVOCATION_ENDS_SESSION_S, f"the revoked session lasted {took:.1f} s"
        # The neighbour's session is untouched: it still receives what the gateway sends.
        await gateway.astaff("lock", "--device", "B", "--reason", "check", "--wait", "0")
        assert str((await next_message(neighbour)).topic) == "tablet/B/desired"
    # ... and the revoked tablet stays out: the reloaded CRL refuses its certificate.
    assert "CERTIFICATE_REVOKED" in refusal_after_reload(wing, wing.tablet_context("A"))
    audit = gateway.staff_json("audit")["entries"]
    assert any(e["action"] == "revoked_session_ended" and e["target"] == "device:A"
               for e in audit)


async def test_a_crl_reload_alone_leaves_the_revoked_session_up(wing: Wing) -> None:
    """Why the plugin: Mosquitto checks the CRL only in the TLS handshake. Without the gateway,
    a revoked tablet that is connected keeps publishing after the broker reloaded its CRL."""
    async with (
        client(wing, wing.gateway_context(), "gw") as gw,
        client(wing, wing.tablet_context("A"), "A") as revoked_tablet,
    ):
        await gw.subscribe("tablet/+/reported", qos=1)
        est.revoke(wing.estate, "A", "lost", None)
        est.publish_crl(wing.estate, WING, wing.broker_dir)
        assert "CERTIFICATE_REVOKED" in refusal_after_reload(wing, wing.tablet_context("A"))
        await revoked_tablet.publish("tablet/A/reported", b"still here", qos=1)
        assert (await next_message(gw)).payload == b"still here"

"""`cellbridge.wing.LocalWing` on an estate made before it (the boot test's, whose gateway address
and ports were fixed when the image was enrolled) and on a broker port chosen by its caller."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cellbridge.wing import LocalWing
from provisioning.demo_estate import DemoEstate


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_wing_on_a_given_estate_uses_it_and_enrols_nothing_twice(tmp_path: Path) -> None:
    estate = DemoEstate(tmp_path / "made-before", wing="w1")
    estate.enrol(["T-0001"])
    bundle = estate.bundle("T-0001").joinpath("tablet.pem").read_bytes()
    wing = LocalWing(tmp_path / "wing", 1, wing="w1", estate=estate)
    assert wing.estate is estate
    assert not (tmp_path / "wing" / "estate").exists()
    assert estate.bundle("T-0001").joinpath("tablet.pem").read_bytes() == bundle


def test_the_broker_listens_on_the_port_it_was_given(tmp_path: Path) -> None:
    port = free_port()
    wing = LocalWing(tmp_path / "wing", 1, broker_port=port)
    broker = wing.start_broker()
    try:
        assert broker.port == port
        tls = wing.estate.tablet_tls("T-0001")
        context = ssl.create_default_context(cafile=str(tls.ca))
        context.load_cert_chain(str(tls.cert), str(tls.key))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            assert conn.version() is not None  # mutual TLS accepted on that port
    finally:
        wing.stop()

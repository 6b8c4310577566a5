"""The simulated fleet's shared signature check: it spares repeated checks of the same bytes,
and never lets through what the key itself would refuse."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellbridge.fleet import SHARED_CHECKS, SharedCheck


class CountingKey:
    def __init__(self, key):
        self.key, self.checks = key, 0

    def verify(self, signature, data):
        self.checks += 1
        self.key.verify(signature, data)


@pytest.fixture
def signer():
    return Ed25519PrivateKey.generate()


def test_the_same_signature_over_the_same_bytes_is_checked_once(signer):
    counting = CountingKey(signer.public_key())
    shared = SharedCheck(counting)  # type: ignore[arg-type]
    signature = signer.sign(b"beacon")
    for _ in range(2000):
        shared.verify(signature, b"beacon")
    assert counting.checks == 1


def test_a_bad_signature_is_refused_every_time(signer):
    counting = CountingKey(signer.public_key())
    shared = SharedCheck(counting)  # type: ignore[arg-type]
    forged = bytes(64)
    for _ in range(3):
        with pytest.raises(InvalidSignature):
            shared.verify(forged, b"beacon")
    assert counting.checks == 3


def test_a_good_signature_over_other_bytes_is_refused(signer):
    shared = SharedCheck(signer.public_key())
    signature = signer.sign(b"unlock")
    shared.verify(signature, b"unlock")
    with pytest.raises(InvalidSignature):
        shared.verify(signature, b"lock")


def test_it_remembers_only_the_newest_documents(signer):
    counting = CountingKey(signer.public_key())
    shared = SharedCheck(counting)  # type: ignore[arg-type]
    signed = [(signer.sign(b"%d" % i), b"%d" % i) for i in range(SHARED_CHECKS + 1)]
    for signature, data in signed:
        shared.verify(signature, data)
    shared.verify(*signed[0])  # the oldest was forgotten: checked again
    assert counting.checks == SHARED_CHECKS + 2


def test_it_is_the_same_key_to_anyone_comparing(signer):
    key = signer.public_key()
    assert SharedCheck(key) == key
    assert SharedCheck(key).public_bytes_raw() == key.public_bytes_raw()

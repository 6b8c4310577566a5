"""The one-off job contract: a short-lived signed body for one tablet; a wipe names two people."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from wire.envelope import Accepted, Refusal, Refused, key_id, open_envelope, seal
from wire.jobs import MAX_JOB_TTL_MS, Job

NOW = 1_800_000_000_000


def job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "audience": "device:T1", "version": NOW, "issued": NOW, "expires": NOW + 600_000,
        "id": "J" + uuid.uuid4().hex, "kind": "wipe", "by": "os:alice+os:bob",
        "reason": "handed back"}
    fields.update(changes)
    return Job.model_validate(fields)


def test_a_signed_wipe_opens_for_its_tablet_only() -> None:
    key = Ed25519PrivateKey.generate()
    keys = {key_id(key.public_key()): key.public_key()}
    raw = seal(job(), key)
    assert isinstance(open_envelope(raw, Job, trusted_keys=keys, audience="device:T1",
                                    now_ms=NOW + 1), Accepted)
    other = open_envelope(raw, Job, trusted_keys=keys, audience="device:T2", now_ms=NOW + 1)
    assert isinstance(other, Refused) and other.reason is Refusal.WRONG_AUDIENCE


@pytest.mark.parametrize("changes", [
    {"by": "os:alice"}, {"by": "os:alice+"}, {"by": "+os:bob"}, {"by": "a+b+c"},
    {"expires": NOW + MAX_JOB_TTL_MS + 1}, {"expires": NOW}, {"audience": "wing:A"},
    {"id": "J123"}, {"kind": "format"}, {"reason": "x" * 501},
])
def test_a_job_out_of_bounds_is_not_a_job(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        job(**changes)


def test_a_reboot_needs_one_name() -> None:
    assert job(kind="reboot", by="os:alice").by == "os:alice"

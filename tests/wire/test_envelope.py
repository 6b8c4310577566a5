"""The signed envelope: every way a document can be wrong is refused with its reason."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.documents import DesiredState, LockOrder, WingLockdown
from wire.envelope import (
    Accepted,
    AlreadyApplied,
    AppliedMark,
    Refusal,
    Refused,
    canonical_json,
    key_id,
    open_envelope,
    seal,
)

NOW = 1_800_000_000_000
GATEWAY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = {key_id(GATEWAY_KEY.public_key()): GATEWAY_KEY.public_key()}


def desired(version: int = 5, audience: str = "device:T1", expires: int = NOW + 60_000) -> DesiredState:
    return DesiredState(
        audience=audience,
        version=version,
        issued=NOW - 1000,
        expires=expires,
        lock=LockOrder(locked=True, by="officer", reason="search", since=NOW - 1000),
    )


def verdict(raw: bytes, applied: AppliedMark | None = None, audience: str = "device:T1"):
    return open_envelope(
        raw, DesiredState, trusted_keys=TRUSTED, audience=audience, now_ms=NOW, applied=applied
    )


def reseal(raw: bytes, **changes: str) -> bytes:
    envelope = json.loads(raw)
    envelope.update(changes)
    return json.dumps(envelope).encode()


def body_edit(raw: bytes, **fields: object) -> bytes:
    """Change body fields but keep the old signature: a forgery."""
    envelope = json.loads(raw)
    body = json.loads(envelope["body"])
    body.update(fields)
    envelope["body"] = canonical_json(body).decode()
    return json.dumps(envelope).encode()


def test_a_sealed_document_opens_to_the_same_document():
    result = verdict(seal(desired(), GATEWAY_KEY))
    assert isinstance(result, Accepted)
    assert result.document == desired()
    assert len(result.digest) == 64


def test_the_applied_document_delivered_again_is_already_applied_not_refused():
    raw = seal(desired(), GATEWAY_KEY)
    first = verdict(raw)
    assert isinstance(first, Accepted)
    again = verdict(raw, applied=AppliedMark(5, first.digest))
    assert again == AlreadyApplied(5)


VALID = seal(desired(), GATEWAY_KEY)
BODY = json.loads(VALID)["body"]

REFUSALS = [
    ("forged body", body_edit(VALID, lock={"locked": False, "by": "x", "reason": "", "since": 0}), None, Refusal.BAD_SIGNATURE),
    ("signature of another key under our kid", reseal(VALID, sig=base64.b64encode(OTHER_KEY.sign(BODY.encode())).decode()), None, Refusal.BAD_SIGNATURE),
    ("signature not base64", reseal(VALID, sig="***"), None, Refusal.BAD_SIGNATURE),
    ("signed by an unknown key", seal(desired(), OTHER_KEY), None, Refusal.UNKNOWN_KEY),
    ("for another tablet", seal(desired(audience="device:T2"), GATEWAY_KEY), None, Refusal.WRONG_AUDIENCE),
    ("for a wing", seal(desired(audience="wing:A"), GATEWAY_KEY), None, Refusal.WRONG_AUDIENCE),
    ("replayed older version", seal(desired(version=4), GATEWAY_KEY), AppliedMark(5, "0" * 64), Refusal.NOT_NEWER),
    ("same version, other content", seal(desired(version=5), GATEWAY_KEY), AppliedMark(5, "0" * 64), Refusal.NOT_NEWER),
    ("expired", seal(desired(expires=NOW - 1), GATEWAY_KEY), None, Refusal.EXPIRED),
    ("expires this instant", seal(desired(expires=NOW), GATEWAY_KEY), None, Refusal.EXPIRED),
    ("over the size cap", b"{" + b" " * 40_000 + b"}", None, Refusal.TOO_LARGE),
    ("not JSON", b"\x00\xffgarbage", None, Refusal.MALFORMED),
    ("JSON but not an object", b"[1,2,3]", None, Refusal.MALFORMED),
    ("missing signature", json.dumps({"body": BODY, "kid": "k"}).encode(), None, Refusal.MALFORMED),
    ("extra envelope field", reseal(VALID, extra="x"), None, Refusal.MALFORMED),
    ("float in envelope", b'{"body":"{}","kid":"k","sig":1.5}', None, Refusal.MALFORMED),
]


@pytest.mark.parametrize(
    ("raw", "applied", "reason"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_bad_documents_are_refused_with_their_reason(raw, applied, reason):
    result = verdict(raw, applied=applied)
    assert isinstance(result, Refused)
    assert result.reason is reason
    assert result.detail


def signed_body(fields: dict) -> bytes:
    body = canonical_json(fields)
    return json.dumps(
        {
            "body": body.decode(),
            "kid": key_id(GATEWAY_KEY.public_key()),
            "sig": base64.b64encode(GATEWAY_KEY.sign(body)).decode(),
        }
    ).encode()


GOOD_FIELDS = desired().model_dump(mode="json")

MALFORMED_BODIES = [
    ("unknown field", {**GOOD_FIELDS, "admin": True}),
    ("version as string", {**GOOD_FIELDS, "version": "6"}),
    ("version zero", {**GOOD_FIELDS, "version": 0}),
    ("wrong type", {**GOOD_FIELDS, "type": "lockdown"}),
    ("missing lock", {k: v for k, v in GOOD_FIELDS.items() if k != "lock"}),
    ("audience with wildcard", {**GOOD_FIELDS, "audience": "device:#"}),
    ("reason too long", {**GOOD_FIELDS, "lock": {**GOOD_FIELDS["lock"], "reason": "x" * 501}}),
]


@pytest.mark.parametrize("fields", [r[1] for r in MALFORMED_BODIES], ids=[r[0] for r in MALFORMED_BODIES])
def test_signed_but_malformed_bodies_are_refused_as_malformed(fields):
    result = verdict(signed_body(fields))
    assert isinstance(result, Refused)
    assert result.reason is Refusal.MALFORMED


def test_a_signed_body_that_is_not_canonical_is_refused():
    body = json.dumps(GOOD_FIELDS, indent=1).encode()
    raw = json.dumps(
        {"body": body.decode(), "kid": key_id(GATEWAY_KEY.public_key()),
         "sig": base64.b64encode(GATEWAY_KEY.sign(body)).decode()}
    ).encode()
    result = verdict(raw)
    assert isinstance(result, Refused) and result.reason is Refusal.MALFORMED


def test_a_wing_lockdown_is_not_accepted_as_desired_state():
    lockdown = WingLockdown(
        audience="device:T1", version=9, issued=NOW, expires=NOW + 1000,
        lock=LockOrder(locked=True, by="o", reason="r", since=NOW),
    )
    result = verdict(seal(lockdown, GATEWAY_KEY))
    assert isinstance(result, Refused) and result.reason is Refusal.MALFORMED


def test_canonical_json_refuses_floats():
    with pytest.raises(ValueError):
        canonical_json({"a": 1.5})


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_change_to_a_signed_envelope_is_refused(position, flip):
    raw = bytearray(VALID)
    index = position % len(raw)
    raw[index] ^= flip
    result = verdict(bytes(raw))
    # A change that leaves the same JSON (e.g. inside insignificant bytes) cannot exist in
    # canonical output, so every change must be refused.
    assert isinstance(result, Refused), (index, bytes(raw))


def test_an_envelope_nested_deeper_than_the_parser_recurses_is_refused_not_raised() -> None:
    result = verdict(b"[" * 10_000)
    assert isinstance(result, Refused)
    assert result.reason is Refusal.MALFORMED


def test_a_policy_within_its_cap_is_accepted_however_much_json_escaping_adds() -> None:
    from tests.policy import samples
    from wire.policy import AppEntry, WingPolicy

    apps = {f"app{n:04}": AppEntry(name='"' * 120, version="1.0") for n in range(600)}
    policy = samples.policy(audience="wing:A", apps={**samples.APPS, **apps})
    raw = seal(policy, GATEWAY_KEY)
    body = json.loads(raw)["body"].encode()
    assert len(body) <= WingPolicy.MAX_BYTES < len(raw)  # the body fits; its escaping does not

    result = open_envelope(raw, WingPolicy, trusted_keys=TRUSTED, audience="wing:A", now_ms=NOW)
    assert isinstance(result, Accepted)


@pytest.mark.parametrize("field", ["body", "kid", "sig"])
def test_a_lone_surrogate_in_any_envelope_field_is_refused_as_malformed_not_raised(field):
    raw = json.loads(seal(desired(), GATEWAY_KEY))
    raw[field] = raw[field][:10] + "\ud800" + raw[field][10:]
    wire_bytes = json.dumps(raw).encode()  # ensure_ascii: the surrogate travels as \ud800
    result = verdict(wire_bytes)
    assert isinstance(result, Refused)
    assert result.reason in {Refusal.MALFORMED, Refusal.UNKNOWN_KEY, Refusal.BAD_SIGNATURE}


def test_a_lone_surrogate_in_the_body_is_refused_as_malformed():
    raw = json.loads(seal(desired(), GATEWAY_KEY))
    raw["body"] = raw["body"].replace('"search"', '"se\ud800arch"')
    result = verdict(json.dumps(raw).encode())
    assert isinstance(result, Refused) and result.reason is Refusal.MALFORMED


@pytest.mark.parametrize("value", [
    [1, 2.0], {"a": {"b": [1, (2, {"c": 0.5})]}}, ({"x": [[[[float("nan")]]]]},),
], ids=["list", "nested", "deep"])
def test_canonical_json_refuses_a_float_at_any_depth(value):
    with pytest.raises(ValueError, match="floats"):
        canonical_json(value)


def test_canonical_json_keeps_integers_booleans_nulls_and_text():
    value = {"b": [True, None, {"c": ("x", 2**53 - 1)}], "a": -1}
    assert canonical_json(value) == b'{"a":-1,"b":[true,null,{"c":["x",9007199254740991]}]}'

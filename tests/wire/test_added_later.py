"""Fields added after tablets were in the field stay off the wire while at their default, so a
peer of the release before them (strict: an unknown field is refused) still reads what a newer
peer sends until the new feature is used — the gateway-first upgrade (README, "Upgrading an
estate")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import create_model

from tests.policy.samples import policy
from wire.documents import (
    AddedLater,
    DesiredState,
    LockOrder,
    LockView,
    ReportedState,
    device_audience,
)
from wire.envelope import Accepted, key_id, open_envelope, seal
from wire.model import WebGrant
from wire.policy import AppEntry
from wire.requests import Request, RequestReply

NOW = 1_800_000_000_000
KEY = Ed25519PrivateKey.generate()


def desired(**changes: Any) -> DesiredState:
    return DesiredState(audience=device_audience("T1"), version=3, issued=NOW - 1000,
                        expires=NOW + 60_000, lock=LockOrder(locked=False, by="gateway", reason="",
                                                             since=0), **changes)


def reported(**changes: Any) -> ReportedState:
    return ReportedState(device="T1", desired_version=3, lockdown_version=0,
                         lock=LockView(locked=False), profile="standard", at=NOW, boot_id="b",
                         agent_version="1", **changes)


DOCUMENTS: list[AddedLater] = [
    desired(),
    reported(),
    AppEntry(name="Education", version="1.0"),
    Request(id="0" * 32, type="general", text="hello", created=NOW),
    RequestReply(audience=device_audience("T1"), version=1, issued=NOW, expires=NOW + 60_000,
                 request="0" * 32, text="yes", by="officer"),
    policy(),
]


def older(kind: type[AddedLater]) -> type[Any]:
    """The same strict document as a peer from before its added fields knows it."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in kind.model_fields.items() if name not in kind.ADDED_LATER}
    return create_model(f"Older{kind.__name__}", __config__=kind.model_config, **fields)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: type(d).__name__)
def test_a_document_at_its_defaults_leaves_its_added_fields_out(document: AddedLater) -> None:
    sent = json.loads(document.model_dump_json())
    assert not set(sent) & type(document).ADDED_LATER
    assert type(document).model_validate_json(document.model_dump_json()) == document


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: type(d).__name__)
def test_a_peer_from_before_the_added_fields_reads_it(document: AddedLater) -> None:
    older(type(document)).model_validate_json(document.model_dump_json())


def test_an_added_field_in_use_goes_on_the_wire_and_an_older_peer_refuses_it() -> None:
    document = reported(signed_in="A1234BC", cert_not_after=NOW + 86_400_000)
    sent = json.loads(document.model_dump_json())
    assert (sent["signed_in"], sent["cert_not_after"]) == ("A1234BC", NOW + 86_400_000)
    assert ReportedState.model_validate_json(document.model_dump_json()) == document
    with pytest.raises(ValueError, match="signed_in"):
        older(ReportedState).model_validate_json(document.model_dump_json())


def test_a_sealed_desired_state_without_grants_opens_and_with_grants_keeps_them() -> None:
    keys = {key_id(KEY.public_key()): KEY.public_key()}
    plain = open_envelope(seal(desired(), KEY), DesiredState, trusted_keys=keys,
                          audience="device:T1", now_ms=NOW)
    assert isinstance(plain, Accepted) and plain.document == desired()
    grant = WebGrant(id="g1", site="find-a-job", start=NOW, until=NOW + 3_600_000)
    granted = open_envelope(seal(desired(web_grants=(grant,)), KEY), DesiredState,
                            trusted_keys=keys, audience="device:T1", now_ms=NOW)
    assert isinstance(granted, Accepted) and granted.document.web_grants == (grant,)


@pytest.mark.parametrize("kind", [type(d) for d in DOCUMENTS], ids=lambda k: k.__name__)
def test_every_added_field_is_a_field_with_a_default(kind: type[AddedLater]) -> None:
    assert kind.ADDED_LATER
    for name in kind.ADDED_LATER:
        assert not kind.model_fields[name].is_required(), name


@pytest.mark.parametrize("minutes", [0, 241])
def test_a_policy_idle_limit_outside_1_to_240_minutes_is_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="session_idle_minutes"):
        policy(session_idle_minutes=minutes)


def test_a_reply_without_its_author_or_without_an_answer_or_a_request_is_refused() -> None:
    base = {"audience": device_audience("T1"), "version": 1, "issued": NOW,
            "expires": NOW + 60_000, "request": "0" * 32}
    with pytest.raises(ValueError, match="both"):
        RequestReply.model_validate({**base, "text": "yes", "by": None})
    with pytest.raises(ValueError, match="asked"):
        RequestReply.model_validate({**base, "text": None, "by": None})
    copy = RequestReply.model_validate({**base, "text": None, "by": None, "asked": {
        "person": "A1234BC", "type": "general", "text": "hello", "created": NOW}})
    with pytest.raises(ValueError, match="asked"):  # an agent from before copies refuses one
        older(RequestReply).model_validate_json(copy.model_dump_json())

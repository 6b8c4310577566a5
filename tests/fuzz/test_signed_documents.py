"""Fuzz: every signed document kind a tablet accepts, mutated in structure and still signed by
the trusted key (the worst case: the parser is all that stands between a bad body and the tablet).

Each mutation makes the document invalid by construction — a field of the wrong JSON type, a
number out of range, a float or NaN, a lone surrogate, nesting past any sane depth, an unknown
field, a missing field, an oversized value, the wrong audience, an expired or replayed version —
so the only right verdict is `Refused`, and `open_envelope` must never raise.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.campaign import EXAMPLES, TALLY
from tests.fuzz.mutations import Path, leaves, replace
from tests.policy import samples
from wire.documents import (
    DesiredState,
    LockOrder,
    SignedBody,
    SignedTime,
    UpdateTarget,
    WingLockdown,
)
from wire.envelope import (
    Accepted,
    AppliedMark,
    Refusal,
    Refused,
    canonical_json,
    key_id,
    open_envelope,
)
from wire.manifest import AppManifest
from wire.policy import WingPolicy
from wire.requests import RequestReply

NOW = samples.ISSUED + 1000
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = {key_id(KEY.public_key()): KEY.public_key()}
LATER = samples.EXPIRES
DIGEST = "ab" * 32


def _lock() -> LockOrder:
    return LockOrder(locked=True, by="officer 1", reason="cell search", since=NOW - 10)


SAMPLES: dict[str, tuple[type[SignedBody], SignedBody, str]] = {
    "desired": (
        DesiredState,
        DesiredState(
            audience="device:T1", version=7, issued=NOW, expires=LATER, lock=_lock(),
            update=UpdateTarget(target="os/cellbridge-os-1.2.0.raucb", version="1.2.0",
                                rollout="r1", window_start=NOW, window_end=NOW + 3_600_000),
        ),
        "device:T1",
    ),
    "lockdown": (
        WingLockdown,
        WingLockdown(audience="wing:A", version=3, issued=NOW, expires=LATER, lock=_lock()),
        "wing:A",
    ),
    "time": (SignedTime, SignedTime(audience="wing:A", version=NOW, issued=NOW, expires=LATER),
             "wing:A"),
    "policy": (WingPolicy, samples.policy(), "wing:A"),
    "reply": (
        RequestReply,
        RequestReply(audience="device:T1", version=2, issued=NOW, expires=LATER,
                     request="0123456789abcdef0123456789abcdef", text="Your visit is booked.",
                     by="officer 2"),
        "device:T1",
    ),
    "manifest": (
        AppManifest,
        AppManifest(audience="wing:A", version=1, issued=NOW, expires=LATER, app="education",
                    app_version="3.2.0", entry="bin/run", args=("--kiosk",),
                    files={"bin/run": DIGEST, "data/lesson.json": DIGEST}),
        "wing:A",
    ),
}

def sign_text(body: str) -> bytes:
    """Seal any body text, valid or not, with the trusted key (json.dumps escapes surrogates)."""
    raw = body.encode("utf-8", "surrogatepass")
    return json.dumps({
        "body": body,
        "kid": key_id(KEY.public_key()),
        "sig": base64.b64encode(KEY.sign(raw)).decode(),
    }).encode()


def verdict(kind: str, raw: bytes, applied: AppliedMark | None = None) -> Any:
    doc_type, _, audience = SAMPLES[kind]
    return open_envelope(raw, doc_type, trusted_keys=TRUSTED, audience=audience, now_ms=NOW,
                         applied=applied)


def check(campaign: str, kind: str, raw: bytes, applied: AppliedMark | None = None) -> Refused:
    TALLY.case(campaign)
    try:
        result = verdict(kind, raw, applied)
    except Exception:
        TALLY.crash(campaign)
        raise
    if not isinstance(result, Refused):
        TALLY.fail_open(campaign)
    assert isinstance(result, Refused), f"{kind}: accepted a hostile body: {raw[:300]!r}"
    return result


def fields(kind: str) -> dict[str, Any]:
    return SAMPLES[kind][1].model_dump(mode="json")


def other_type(value: Any) -> st.SearchStrategy[Any]:
    """A JSON value of a different JSON type than `value` (null excluded: optional fields take it)."""
    choices: list[st.SearchStrategy[Any]] = []
    if not isinstance(value, str):
        choices.append(st.text(max_size=20))
    if not isinstance(value, int) or isinstance(value, bool):
        choices.append(st.integers(min_value=-(2**60), max_value=2**60))
    if not isinstance(value, bool):
        choices.append(st.booleans())
    if not isinstance(value, list):
        choices.append(st.lists(st.integers(), max_size=3))
    if not isinstance(value, dict):
        choices.append(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
    return st.one_of(choices)


KINDS = st.sampled_from(sorted(SAMPLES))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(kind=KINDS, data=st.data())
def test_a_field_of_the_wrong_json_type_is_refused(kind: str, data: st.DataObject) -> None:
    tree = fields(kind)
    path, value = data.draw(st.sampled_from(leaves(tree)))
    if value is None:
        return
    # a string inside a list of strings, or a value of a free-form dict, keeps its own type rules
    new = data.draw(other_type(value))
    mutated = replace(tree, path, new)
    if mutated == tree:
        return
    result = check("signed documents: wrong JSON type", kind, sign_text(_canonical(mutated)))
    assert result.reason in {Refusal.MALFORMED, Refusal.TOO_LARGE, Refusal.WRONG_AUDIENCE}


def _canonical(tree: Any) -> str:
    return canonical_json(tree).decode()


@FUZZ
@given(kind=KINDS, data=st.data(),
       number=st.one_of(st.integers(min_value=2**53), st.integers(max_value=-1)))
def test_a_number_out_of_range_is_refused(kind: str, data: st.DataObject, number: int) -> None:
    tree = fields(kind)
    ints = [(p, v) for p, v in leaves(tree) if isinstance(v, int) and not isinstance(v, bool)]
    path, _ = data.draw(st.sampled_from(ints))
    check("signed documents: number out of range", kind,
          sign_text(_canonical(replace(tree, path, number))))


@FUZZ
@given(kind=KINDS, data=st.data(),
       token=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "0.5", "1.0", "-0.0", "1E2"]))
def test_a_float_or_non_finite_number_is_refused(kind: str, data: st.DataObject, token: str) -> None:
    tree = fields(kind)
    path, _ = data.draw(st.sampled_from(leaves(tree)))
    marker = "\u0000MARK\u0000"
    body = _canonical(replace(tree, path, marker)).replace(json.dumps(marker, ensure_ascii=False),
                                                           token)
    result = check("signed documents: float / NaN", kind, sign_text(body))
    assert result.reason is Refusal.MALFORMED


@FUZZ
@given(kind=KINDS, data=st.data(), prefix=st.text(max_size=5),
       surrogate=st.integers(min_value=0xD800, max_value=0xDFFF))
def test_a_lone_surrogate_in_any_string_is_refused(
    kind: str, data: st.DataObject, prefix: str, surrogate: int
) -> None:
    tree = fields(kind)
    strings = [(p, v) for p, v in leaves(tree) if isinstance(v, str)]
    path, value = data.draw(st.sampled_from(strings))
    body = json.dumps(replace(tree, path, prefix + chr(surrogate) + value), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    result = check("signed documents: lone surrogate", kind, sign_text(body))
    assert result.reason is Refusal.MALFORMED


@FUZZ
@given(kind=KINDS, data=st.data(), depth=st.integers(min_value=50, max_value=100_000),
       bracket=st.sampled_from(["[", "{\"a\":"]))
def test_nesting_past_any_sane_depth_is_refused(
    kind: str, data: st.DataObject, depth: int, bracket: str
) -> None:
    tree = fields(kind)
    path, _ = data.draw(st.sampled_from(leaves(tree)))
    closing = "]" if bracket == "[" else "}"
    marker = "\u0000MARK\u0000"
    deep = bracket * depth + "1" + closing * depth
    body = _canonical(replace(tree, path, marker)).replace(json.dumps(marker, ensure_ascii=False),
                                                           deep)
    check("signed documents: deep nesting", kind, sign_text(body))


@FUZZ
@given(kind=KINDS, data=st.data(), name=st.text(min_size=1, max_size=12))
def test_an_unknown_field_anywhere_is_refused(kind: str, data: st.DataObject, name: str) -> None:
    tree = fields(kind)
    objects = [((), tree)] + [(p, v) for p, v in leaves(tree) if isinstance(v, dict)]
    path, node = data.draw(st.sampled_from(objects))
    if name in node or _free_form(kind, path):
        return
    check("signed documents: unknown field", kind,
          sign_text(_canonical(replace(tree, path, {**node, name: 1}))))


def _free_form(kind: str, path: Path) -> bool:
    """Maps whose keys are data, not field names (apps, profiles, files, hours)."""
    return bool(path) and path[-1] in {"apps", "profiles", "files", "hours"}


@FUZZ
@given(kind=KINDS, data=st.data())
def test_a_missing_required_field_is_refused(kind: str, data: st.DataObject) -> None:
    doc_type = SAMPLES[kind][0]
    tree = fields(kind)
    required = [name for name, info in doc_type.model_fields.items() if info.is_required()]
    name = data.draw(st.sampled_from(required))
    del tree[name]
    check("signed documents: missing field", kind, sign_text(_canonical(tree)))


@FUZZ
@given(kind=KINDS, data=st.data(), extra=st.integers(min_value=1, max_value=4096))
def test_an_oversized_string_is_refused(kind: str, data: st.DataObject, extra: int) -> None:
    doc_type = SAMPLES[kind][0]
    tree = fields(kind)
    strings = [(p, v) for p, v in leaves(tree) if isinstance(v, str)]
    path, _ = data.draw(st.sampled_from(strings))
    huge = "x" * (doc_type.MAX_BYTES + extra)
    result = check("signed documents: oversized", kind, sign_text(_canonical(replace(tree, path, huge))))
    assert result.reason is Refusal.TOO_LARGE


@FUZZ
@given(kind=KINDS, who=st.from_regex(r"\A(device|wing):[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z"))
def test_a_document_for_another_audience_is_refused(kind: str, who: str) -> None:
    if who == SAMPLES[kind][2]:
        return
    tree = {**fields(kind), "audience": who}
    result = check("signed documents: wrong audience", kind, sign_text(_canonical(tree)))
    assert result.reason in {Refusal.WRONG_AUDIENCE, Refusal.MALFORMED}


@FUZZ
@given(kind=KINDS, age=st.integers(min_value=0, max_value=2**40))
def test_an_expired_document_is_refused(kind: str, age: int) -> None:
    tree = {**fields(kind), "issued": 0, "expires": max(0, NOW - age)}
    result = check("signed documents: expired", kind, sign_text(_canonical(tree)))
    assert result.reason in {Refusal.EXPIRED, Refusal.MALFORMED}


@FUZZ
@given(kind=KINDS, ahead=st.integers(min_value=0, max_value=1000))
def test_a_replayed_or_older_version_is_refused(kind: str, ahead: int) -> None:
    body = _canonical(fields(kind))
    version = SAMPLES[kind][1].version
    applied = AppliedMark(version + ahead, "0" * 64)  # another document holds this version
    result = check("signed documents: replay", kind, sign_text(body), applied)
    assert result.reason is Refusal.NOT_NEWER


def test_every_sample_is_accepted_untouched() -> None:
    """The mutations start from documents the tablet accepts, so a refusal is the mutation's."""
    for kind in SAMPLES:
        result = verdict(kind, sign_text(_canonical(fields(kind))))
        assert isinstance(result, Accepted), (kind, result)



"""Signed envelopes: canonical JSON bodies sealed with Ed25519 (docs/architecture.md).

On the wire an envelope is ``{"body": "<canonical JSON>", "kid": "<key id>", "sig": "<base64>"}``.
The signature covers the exact UTF-8 bytes of `body`, so verification never depends on how a
parser re-encodes JSON; a body that is not itself canonical is refused as malformed.

`open_envelope` is the trust core: bytes in, a verdict out, no I/O and no clock of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from wire.documents import SignedBody

D = TypeVar("D", bound=SignedBody)

# Room for the envelope's own fields (key id, signature, keys and quotes).
_ENVELOPE_OVERHEAD = 512
# The body is a JSON string inside the envelope, where each `"` or `\` it holds gains a `\`:
# so the envelope is at most twice the body, and without its backslashes no longer than it.
_ESCAPING_FACTOR = 2


class Refusal(StrEnum):
    """Why a document was refused; the value is what audit entries and acks carry."""

    TOO_LARGE = "over_size_cap"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    NOT_NEWER = "not_newer"


@dataclass(frozen=True, slots=True)
class Accepted(Generic[D]):
    document: D
    digest: str
    """sha256 of the signed body: identifies this exact document."""


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    """The very document already applied (a retained re-delivery): nothing to do, nothing wrong."""

    version: int


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    detail: str
    version: int | None = None
    """The refused document's version, when it got far enough to be read."""


Verdict = Accepted[D] | AlreadyApplied | Refused


@dataclass(frozen=True, slots=True)
class AppliedMark:
    """The highest version of a topic a tablet has applied, and that document's digest."""

    version: int
    digest: str


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8; floats and non-finite numbers are refused."""
    _reject_floats(value)
    return _canonical_dump(value)


def _canonical_dump(value: Any) -> bytes:
    """`canonical_json` of a value known to hold no float (parsed by `_strict_loads`)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_LEAVES = frozenset({str, int, bool, type(None)})


def _reject_floats(value: Any) -> None:
    """Walks `value` without recursion, by exact type first: a policy holds thousands of
    leaves, and this runs before every signature and every policy hash."""
    pending = [value]
    pop, extend = pending.pop, pending.extend
    while pending:
        item = pop()
        kind = type(item)
        if kind in _LEAVES:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif isinstance(item, float):
            raise ValueError("floats are not allowed in signed documents")
        elif isinstance(item, dict):
            extend(item.values())
        elif isinstance(item, list | tuple):
            extend(item)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a signing key: the first 16 bytes of sha256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def seal(document: SignedBody, key: Ed25519PrivateKey) -> bytes:
    """Sign `document` and return the envelope's wire bytes."""
    body = canonical_json(document.model_dump(mode="json"))
    envelope = {
        "body": body.decode("utf-8"),
        "kid": key_id(key.public_key()),
        "sig": base64.b64encode(key.sign(body)).decode("ascii"),
    }
    return canonical_json(envelope)


def _strict_loads(text: bytes | str) -> Any:
    def no_float(value: str) -> Any:
        raise ValueError(f"float {value!r} not allowed")

    def no_constant(value: str) -> Any:
        raise ValueError(f"{value} not allowed")

    return json.loads(text, parse_float=no_float, parse_constant=no_constant)


def open_envelope(
    raw: bytes,
    doc_type: type[D],
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    audience: str,
    now_ms: int,
    applied: AppliedMark | None = None,
    max_bytes: int | None = None,
) -> Accepted[D] | AlreadyApplied | Refused:
    """Verify an envelope and say whether its document may be applied, and if not, why.

    Checks, in order: size cap, envelope shape, key id, signature, body shape and type, audience,
    expiry (against `now_ms`, the caller's trusted clock), and that its version is newer than
    `applied`. Never raises for bad input.
    """
    cap = max_bytes if max_bytes is not None else doc_type.MAX_BYTES
    if len(raw) > cap * _ESCAPING_FACTOR + _ENVELOPE_OVERHEAD or (
        len(raw) - raw.count(b"\\") > cap + _ENVELOPE_OVERHEAD
    ):
        return Refused(Refusal.TOO_LARGE, f"{len(raw)} bytes, cap {cap}")
    try:
        envelope = _strict_loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than parsable
        return Refused(Refusal.MALFORMED, f"envelope is not JSON: {exc}")
    if not (
        isinstance(envelope, dict)
        and set(envelope) == {"body", "kid", "sig"}
        and all(isinstance(envelope[k], str) for k in envelope)
    ):
        return Refused(Refusal.MALFORMED, "envelope must be an object of body, kid and sig strings")
    try:
        body = envelope["body"].encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON: no UTF-8 spelling
        return Refused(Refusal.MALFORMED, "body is not valid UTF-8 text")
    if len(body) > cap:
        return Refused(Refusal.TOO_LARGE, f"body {len(body)} bytes, cap {cap}")
    key = trusted_keys.get(envelope["kid"])
    if key is None:
        return Refused(Refusal.UNKNOWN_KEY, f"no trusted key {envelope['kid'][:40]!r}")
    try:
        signature = base64.b64decode(envelope["sig"], validate=True)
        # base64 ignores the padding bits of the last character: only the canonical spelling
        # of a signature is the signature (else one envelope has several valid encodings).
        if base64.b64encode(signature).decode("ascii") != envelope["sig"]:
            raise ValueError("signature is not canonical base64")
        key.verify(signature, body)
    except (binascii.Error, ValueError, InvalidSignature):
        return Refused(Refusal.BAD_SIGNATURE, "signature does not match the body")
    try:
        fields = _strict_loads(body)  # refuses floats: no need to look for them again
        if _canonical_dump(fields) != body:
            return Refused(Refusal.MALFORMED, "body is not canonical JSON")
        # JSON mode: strict, yet a JSON array fills a tuple field (policies, manifests).
        document = doc_type.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return Refused(Refusal.MALFORMED, f"{where}: {first['msg']}")
    except (ValueError, RecursionError) as exc:
        return Refused(Refusal.MALFORMED, f"body is not valid JSON: {exc}")
    if document.audience != audience:
        return Refused(
            Refusal.WRONG_AUDIENCE,
            f"for {document.audience!r}, not {audience!r}",
            document.version,
        )
    if document.expires <= now_ms:
        return Refused(
            Refusal.EXPIRED, f"expired {now_ms - document.expires} ms ago", document.version
        )
    digest = hashlib.sha256(body).hexdigest()
    if applied is not None and document.version <= applied.version:
        if document.version == applied.version and digest == applied.digest:
            return AlreadyApplied(document.version)
        return Refused(
            Refusal.NOT_NEWER,
            f"version {document.version} is not newer than applied {applied.version}",
            document.version,
        )
    return Accepted(document, digest)


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_to_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key

"""The base of every wire document: strict, frozen models and the integers times are made of.

Kept apart from `wire.documents` so that part-specific contracts (`wire.prisoners`) can build on
it and `wire.documents` can still embed them; `WebGrant` lives here because a tablet's desired
state and each occupant in it (`wire.prisoners.Occupant`) carry grants alike.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

Millis = Annotated[int, Field(ge=0, lt=2**53)]
"""Unix time in milliseconds: all times on the wire are integers, so canonical JSON is exact."""

Version = Annotated[int, Field(ge=1, lt=2**53)]
Counter = Annotated[int, Field(ge=0, lt=2**53)]
"""A version a tablet reports (0: none yet); bounded like every integer on the wire, so it fits
SQLite and JSON numbers exactly."""


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


_ADDED_DEFAULTS: dict[type, tuple[tuple[str, Any], ...]] = {}
"""Each `AddedLater` class's added fields with their defaults, made once per class: asking
pydantic for a default (`get_default`) inspects the default factory's signature every time,
and every dump of such a document asks for each field (a policy dump asks once per app entry
too, and every `reported` a tablet sends asks again)."""


def _added_defaults(cls: type[AddedLater]) -> tuple[tuple[str, Any], ...]:
    found = _ADDED_DEFAULTS.get(cls)
    if found is None:
        fields = cls.model_fields
        found = _ADDED_DEFAULTS[cls] = tuple(
            (name, fields[name].get_default(call_default_factory=True))
            for name in sorted(cls.ADDED_LATER))
    return found


def _without_added_defaults(self: Any, handler: SerializerFunctionWrapHandler) -> Any:
    data = handler(self)
    if isinstance(data, dict):
        for name, default in _added_defaults(type(self)):
            if getattr(self, name) == default:
                data.pop(name, None)
    return data


class AddedLater(Document):
    """Mix into a document that gained fields after tablets were in the field: each field named in
    `ADDED_LATER` is left out of the JSON while it holds its default. Documents are strict (an
    unknown field is refused), so an agent or gateway from before the field still reads what a
    newer peer sends, as long as the new feature is not in use; once it is, the older peer refuses
    the document and says so (fail closed). A new optional field on a document a peer of another
    release reads belongs in `ADDED_LATER` (tests/wire/test_added_later.py checks it)."""

    ADDED_LATER: ClassVar[frozenset[str]] = frozenset()
    serialize_added_later = model_serializer(mode="wrap")(_without_added_defaults)


class WebGrant(Document):
    """A site staff granted (a tablet, or a person wherever they sign in), as the tablet needs it
    to list it in the Web app: only grants in effect or starting later (approved if the site is
    sensitive, not revoked, not expired) are carried; the gateway keeps who granted it and why,
    and decides every connection itself."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    site: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    start: Millis
    until: Millis

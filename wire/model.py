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


def _without_added_defaults(self: Any, handler: SerializerFunctionWrapHandler) -> Any:
    data = handler(self)
    if isinstance(data, dict):
        fields = type(self).model_fields
        for name in self.ADDED_LATER:
            if getattr(self, name) == fields[name].get_default(call_default_factory=True):
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

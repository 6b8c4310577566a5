"""The base of every wire document: strict, frozen models and the integers times are made of.

Kept apart from `wire.documents` so that part-specific contracts (`wire.prisoners`) can build on
it and `wire.documents` can still embed them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Millis = Annotated[int, Field(ge=0, lt=2**53)]
"""Unix time in milliseconds: all times on the wire are integers, so canonical JSON is exact."""

Version = Annotated[int, Field(ge=1, lt=2**53)]
Counter = Annotated[int, Field(ge=0, lt=2**53)]
"""A version a tablet reports (0: none yet); bounded like every integer on the wire, so it fits
SQLite and JSON numbers exactly."""


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

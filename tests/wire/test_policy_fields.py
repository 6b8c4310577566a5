"""The policy's local date-times: read exactly as the first validator read them (a pattern of
two-digit fields, then `strptime`); the parser is quicker, what it accepts must not change."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime

import pytest

from wire.policy import local_datetime

TEXTS = [
    "2026-12-24T23:00", "2026-02-28T00:00", "2028-02-29T12:30", "2026-02-30T10:00",
    "2026-12-24T24:00", "2026-12-24T23:60", "2026-13-01T00:00", "0000-01-01T00:00",
    "2026-12-24T23:00\n", " 2026-12-24T23:00", "2026-1-24T23:00", "2026-12-24 23:00",
    "2026-12-24T23:00:00", "2026-12-24T23:0", "", "２０２６-12-24T23:00", "2026-12-24t23:00",
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_local_date_time_is_read_as_the_first_validator_read_it(text: str) -> None:
    expected: datetime | None = None
    if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$", text):
        with contextlib.suppress(ValueError):
            expected = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    if expected is None:
        with pytest.raises(ValueError):
            local_datetime(text)
    else:
        assert local_datetime(text) == expected

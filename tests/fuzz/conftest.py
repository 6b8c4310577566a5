"""The fuzz campaigns' tally is printed (and written to CELLBRIDGE_FUZZ_REPORT) by tests/conftest.py,
the one conftest a parallel run's controller loads; each worker sends its counts there."""

from __future__ import annotations

from tests.gateway.conftest import gateway, make_gateway, peer  # noqa: F401  (real gateway)

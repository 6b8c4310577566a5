"""Fault campaigns (issue 13): bounded in `make test`, full with CELLBRIDGE_SLOW=1 (`make soak`).
The gateway fixtures are the gateway suite's: a real gateway process beside the real broker."""

from __future__ import annotations

import os

from tests.gateway.conftest import gateway, make_gateway, peer

__all__ = ["SLOW", "gateway", "make_gateway", "peer"]

SLOW = os.environ.get("CELLBRIDGE_SLOW") == "1"

"""The wing gateway: desired state, reconciliation, audit, control API and the staff CLI."""

from pathlib import Path

DEFAULT_API_SOCKET = Path("/run/cellbridge/gateway.sock")
"""Where the gateway serves its control API unless configured otherwise, and staff look."""

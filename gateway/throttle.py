"""The gateway's throttles, kept in `common.throttle` (the agent uses them too); imported from here
by the gateway's parts."""

from common.throttle import AuditThrottle, Spacing

__all__ = ["AuditThrottle", "Spacing"]

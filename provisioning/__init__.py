"""IT's tools: estate PKI, enrolment, revocation, release signing (docs/architecture.md)."""

"""IT's tools: estate PKI, enrolment, revocation, release signing (DESIGN §1)."""

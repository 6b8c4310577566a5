"""The wing gateway: desired state, signing, reconciliation, staff API (DESIGN §1)."""

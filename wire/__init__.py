"""The Cellbridge wire contract: topics, documents, signed envelopes. Pure code, no I/O."""

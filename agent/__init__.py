"""The privileged on-tablet agent: MQTT session, state, enforcement, local API."""

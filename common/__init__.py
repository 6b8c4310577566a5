"""The floor every runnable part stands on: files, config loading, MQTT sessions, a local broker.

It imports only the standard library, third-party libraries and ``wire``; ``agent``, ``device``,
``gateway``, ``provisioning`` and the ``cellbridge`` front door import it, never the reverse.
"""

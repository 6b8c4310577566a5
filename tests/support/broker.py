"""Tests use the same broker launcher as the demo and the benchmarks."""

from cellbridge.broker import Mosquitto, free_port, wait_for_port

__all__ = ["Mosquitto", "free_port", "wait_for_port"]

"""The e2e suite runs on a whole wing (tests/support/wing.py)."""

from tests.support.wing import make_wing

__all__ = ["make_wing"]

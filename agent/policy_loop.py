"""The curfew's clock: re-decide what the shell shows at every policy boundary (and every few
seconds), on the trusted clock, broker or no broker; notice and audit a system clock that jumps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiomqtt

from agent.audit import AuditEvent, AuditTrail
from agent.clock import TrustedClock
from agent.policy import PolicyEnforcer
from wire.localapi import ShellState

log = logging.getLogger(__name__)


async def policy_loop(
    policy: PolicyEnforcer,
    clock: TrustedClock,
    *,
    audit: AuditTrail,
    shown: Callable[[], ShellState],
    profile: Callable[[], str],
    refresh: Callable[[], None],
    report: Callable[[], Awaitable[None]],
    device: str,
) -> None:
    """Runs until cancelled. An error in one round is logged and the next round runs; one
    outside a round ends the loop with it (the agent's TaskGroup then stops the agent: the
    curfew's clock must not stop silently). `report` publishes `reported` when the curfew
    state changed."""
    while True:
        await asyncio.sleep(policy.sleep_s())
        try:
            jump = clock.check_wall()
            if jump is not None:
                await audit.warn(
                    AuditEvent.CLOCK_JUMP, "system", "ignored",
                    f"system clock moved {jump.delta_ms / 1000:+.0f} s; trusted time kept",
                )
            if not policy.due(profile(), locked=shown().locked):
                continue
            before = shown().curfew.state
            refresh()
            if shown().curfew.state != before:
                await report()
        except aiomqtt.MqttError:
            pass  # the session task reconnects; the state is already shown
        except Exception:
            log.exception("%s: policy loop error", device)

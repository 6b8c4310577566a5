"""The renewal clock: re-issues, as new versions with the same content, the documents that would
expire within `reissue_margin_s` — every desired state, the wing lockdown and the wing policy
(the curfew schedule a tablet enforces offline) — so a tablet never holds an expired one.

A re-issue is a new version (a tablet never sees one version with two digests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.config import GatewayConfig
from gateway.desired import needs_reissue, reissued
from gateway.fleet import Fleet
from gateway.issuer import Issue, Issuer, SignedPolicy, device_of
from gateway.publisher import Publisher
from gateway.store import Audit
from wire.policy import WingPolicy


class Renewal:
    def __init__(self, config: GatewayConfig, issuer: Issuer, fleet: Fleet,
                 publisher: Publisher, clock: Callable[[], int]) -> None:
        self._issuer = issuer
        self._fleet = fleet
        self._publisher = publisher
        self._clock = clock
        self._wing = config.wing
        self._margin_ms = config.reissue_margin_s * 1000
        self.interval_s = max(0.5, min(60.0, config.reissue_margin_s / 4))

    async def run(self) -> None:
        while True:
            await self.renew_documents()
            await self.renew_policy()
            await asyncio.sleep(self.interval_s)

    def _renewals(self) -> Issue:
        issuer, fleet = self._issuer, self._fleet
        now = self._clock()
        renewed = [
            reissued(s.document, now, issuer.ttl_ms,
                     reported=fleet.reported_desired(device_of(s.document)))
            for s in issuer.desired.values()
            if needs_reissue(s.document.expires, now, self._margin_ms)
        ]
        current = issuer.lockdown.document if issuer.lockdown else None
        lockdown = None
        if current is not None and needs_reissue(current.expires, now, self._margin_ms):
            lockdown = reissued(current, now, issuer.ttl_ms, reported=fleet.reported_lockdowns())
        if not renewed and lockdown is None:
            return Issue()
        return Issue(renewed, lockdown, Audit(now, "gateway", "reissue", f"wing:{self._wing}", {
            "devices": sorted(device_of(d) for d in renewed), "lockdown": lockdown is not None}))

    async def renew_documents(self) -> int:
        """Re-issue the desired states and the lockdown near expiry; how many were."""
        issue = await self._issuer.issue(self._renewals)
        await asyncio.gather(
            self._publisher.desired(*(device_of(d) for d in issue.desired)),
            *([self._publisher.lockdown()] if issue.lockdown is not None else []),
        )
        return len(issue.desired) + (issue.lockdown is not None)

    async def renew_policy(self) -> bool:
        """Re-issue the wing policy near expiry; whether it was."""
        now = self._clock()

        def plan(policy: SignedPolicy | None) -> tuple[WingPolicy, Audit] | None:
            if policy is None or not needs_reissue(policy.document.expires, now,
                                                   self._margin_ms):
                return None
            document = policy.document.model_copy(update={
                "version": max(policy.document.version + 1, now), "issued": now,
                "expires": now + self._issuer.ttl_ms})
            return document, Audit(now, "gateway", "policy_reissue", f"wing:{self._wing}",
                                   {"version": document.version, "hash": policy.hash})

        if await self._issuer.issue_policy(plan) is None:
            return False
        await self._publisher.policy()
        return True

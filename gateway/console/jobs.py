"""Lock confirmations being followed: after a lock or unlock is issued, which of its targets have
reported it applied, until every one has (or the job runs out of time).

The counts come from the gateway's own view of its tablets (`tablet_views`: `in_sync`), the same
the control API shows, so the console needs nothing private of the lock part.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FOLLOW_MS = 10 * 60 * 1000
MAX_JOBS = 500


@dataclass(slots=True)
class LockJob:
    id: str
    verb: str
    target: str
    by: str
    reason: str
    started: int
    version: int
    targets: list[str]
    confirmed: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)

    def update(self, views: Mapping[str, Mapping[str, Any]]) -> None:
        for device in self.targets:
            if device not in self.confirmed and views.get(device, {}).get("in_sync"):
                self.confirmed.add(device)

    def progress(self, now: int) -> dict[str, Any]:
        pending = [d for d in self.targets if d not in self.confirmed]
        return {
            "id": self.id, "verb": self.verb, "target": self.target, "by": self.by,
            "reason": self.reason, "version": self.version, "started": self.started,
            "total": len(self.targets), "confirmed": len(self.targets) - len(pending),
            "pending": pending, "rejected": self.rejected,
            "done": not pending, "given_up": bool(pending) and now - self.started > FOLLOW_MS,
        }


class LockJobs:
    def __init__(self, views: Callable[[], Iterable[Mapping[str, Any]]],
                 clock: Callable[[], int], limit: int = MAX_JOBS) -> None:
        self._views = views
        self._clock = clock
        self._limit = limit
        self._jobs: OrderedDict[str, LockJob] = OrderedDict()

    def follow(self, *, verb: str, target: str, by: str, reason: str, version: int,
               targets: list[str], confirmed: Iterable[str], rejected: Mapping[str, str]
               ) -> LockJob:
        while len(self._jobs) >= self._limit:
            self._jobs.popitem(last=False)
        job = LockJob(secrets.token_urlsafe(12), verb, target, by, reason, self._clock(),
                      version, list(targets), set(confirmed), dict(rejected))
        self._jobs[job.id] = job
        return job

    def progress(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if len(job.confirmed) < len(job.targets):
            job.update({v["id"]: v for v in self._views()})
        return job.progress(self._clock())

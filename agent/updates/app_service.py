"""The app installer inside the agent's event loop.

The installer is synchronous (TUF, downloads, `rauc`, fsyncs): it runs in a worker thread, one
pass at a time, woken when the wing policy changes (and once at start), and after a transient
failure again with jittered exponential backoff (tenacity), a policy change cutting the wait
short. Every change of an app's status reaches the agent through `on_change` on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from agent.updates.app_install import AppInstallConfig, AppInstaller, Verify
from agent.updates.app_plan import AppState, AppStatus, reports
from agent.updates.config import UpdatesConfig
from agent.updates.engine import UpdateEngine
from agent.updates.tufclient import TrustedNow
from wire.documents import AppInstallReport
from wire.policy import WingPolicy

log = logging.getLogger(__name__)

RETRY_MAX_S = 600.0


class _TryAgain(Exception):
    """A pass left an app failed for a transient reason (or hit a bug)."""


def build_app_installer(
    config: UpdatesConfig,
    apps_dir: Path,
    engine: UpdateEngine,
    now: TrustedNow,
    verify: Verify,
    report: Callable[[Mapping[str, AppStatus]], None] = lambda statuses: None,
) -> AppInstaller:
    """An installer sharing the OS engine's TUF client (its metadata, its lock) and its pool."""
    return AppInstaller(
        AppInstallConfig(apps_dir=apps_dir, work_dir=config.work_dir / "apps",
                         compatible=config.compatible, keyring=config.keyring,
                         not_before=config.not_before,
                         download_deadline_s=config.download_deadline_s),
        engine.releases, engine.pool, now, verify, report,
    )


class AppInstallService:
    def __init__(self, installer: AppInstaller, on_change: Callable[[], None]) -> None:
        self.installer = installer
        self._on_change = on_change
        self._policy: WingPolicy | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        installer.report = self._changed

    def policy_changed(self, policy: WingPolicy) -> None:
        """The agent applied a wing policy (or loaded one at start)."""
        self._policy = policy
        self._wake.set()

    def time_trusted(self) -> None:
        """The agent's clock became trusted: installs waiting for it can go now."""
        self._wake.set()

    def reports(self) -> tuple[AppInstallReport, ...]:
        return reports(self.installer.statuses().values())

    def statuses(self) -> dict[str, AppStatus]:
        return self.installer.statuses()

    def not_installed(self) -> set[str]:
        """Pinned apps whose build is not installed (pending, installing, failed, refused), all
        of them: not the report's first MAX_APP_REPORTS."""
        return {app for app, status in self.installer.statuses().items()
                if status.state is not AppState.INSTALLED}

    async def run(self) -> None:
        """Until cancelled."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self.installer.recover)
        except OSError:
            log.exception("cleaning up after an interrupted app install failed")
        while True:
            await self._wake.wait()
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(_TryAgain),
                wait=wait_random_exponential(multiplier=5, max=RETRY_MAX_S),
                sleep=self._sleep_unless_woken,
                before_sleep=self._log_retry,
            )
            await retrying(self._attempt)

    async def _attempt(self) -> None:
        self._wake.clear()
        policy = self._policy
        if policy is None:
            return
        try:
            retry = await asyncio.to_thread(self.installer.run, policy)
        except Exception as exc:  # a bug must not stop app installs for good, nor the agent
            log.exception("app installer failed")
            raise _TryAgain(str(exc)) from exc
        if retry:
            raise _TryAgain("an app install failed for a transient reason")

    async def _sleep_unless_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("app installs: trying again within %.0f s", wait)

    def _changed(self, statuses: Mapping[str, AppStatus]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_change)

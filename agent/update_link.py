"""The agent's side of updates: the OS update engine and the app installer (`agent.updates`),
fed what the agent applied, shown to the shell and reported to the gateway; every update or app
install that fails, is refused or rolls back is audited once.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from agent.apps import AppCheck
from agent.audit import AuditTrail
from agent.policy_view import without_builds
from agent.updates.app_plan import AppState
from agent.updates.app_service import AppInstallService, build_app_installer
from agent.updates.config import UpdatesConfig
from agent.updates.service import HealthCheck, UpdateService
from wire.documents import DesiredState, ReportedState
from wire.localapi import ShellState
from wire.policy import WingPolicy


class UpdateLink:
    def __init__(
        self,
        config: UpdatesConfig,
        apps_path: Path,
        *,
        now: Callable[[], datetime.datetime | None],
        connected: Callable[[], bool],
        shell_watching: Callable[[], bool],
        verify: Callable[[Path, str, WingPolicy], AppCheck],
        changed: Callable[[], None],
        audit: AuditTrail,
    ) -> None:
        """`now` is the trusted clock (None until time is trusted); `changed` is called on the
        event loop whenever what the shell or the gateway is told may have changed."""
        self._changed = changed
        self._audit = audit
        self._update_audited: tuple[str, str, str, str] | None = None
        self._app_audited: dict[str, tuple[str, str, str]] = {}
        needs_shell = config.health_needs_shell
        self.updates = UpdateService(
            config, now=now,
            health=HealthCheck(connected, lambda: not needs_shell or shell_watching(),
                               config.health_timeout_s),
            on_change=self._on_update_change,
        )
        self.apps = AppInstallService(
            build_app_installer(config, apps_path, self.updates.engine, now=now, verify=verify),
            on_change=self._on_app_install_change,
        )

    def loops(self, desired: DesiredState | None) -> list[Coroutine[Any, Any, None]]:
        """The long-running loops, for the agent's TaskGroup (`desired`: what is applied now)."""
        self.updates.desired_changed(desired)
        return [self.updates.run(), self.apps.run()]

    def desired_changed(self, desired: DesiredState) -> None:
        self.updates.desired_changed(desired)

    def policy_changed(self, policy: WingPolicy) -> None:
        self.apps.policy_changed(policy)

    def time_trusted(self) -> None:
        self.apps.time_trusted()

    def shown(self, state: ShellState) -> ShellState:
        """`state` with the update's progress, and app tiles greyed while their build is not
        installed (the launch check would refuse them)."""
        return state.model_copy(update={
            "update": self.updates.view(),
            "apps": without_builds(state.apps, self.apps.not_installed()),
        })

    def reported(self, report: ReportedState) -> ReportedState:
        return report.model_copy(
            update={"update": self.updates.report(), "apps": self.apps.reports()}
        )

    def _on_update_change(self) -> None:
        self._changed()
        report = self.updates.report()
        outcome = (report.state, report.target, report.version, report.error)
        if report.state in ("failed", "rolled_back") and outcome != self._update_audited:
            self._update_audited = outcome
            self._audit.record_soon(report.state, "update",
                                    f"{report.target} {report.version}".strip(),
                                    report.error[:500])

    def _on_app_install_change(self) -> None:
        self._changed()  # a build that arrived (or left) changes what the shell may offer
        for app, status in self.apps.statuses().items():
            if status.state not in (AppState.FAILED, AppState.REFUSED):
                continue
            outcome = (status.version, status.state.value, status.error)
            if self._app_audited.get(app) == outcome:
                continue
            self._app_audited[app] = outcome
            self._audit.record_soon(status.state.value, f"app/{app}", "app_install",
                                    f"{status.version}: {status.error}"[:500])

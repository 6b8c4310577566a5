"""What the app installer decides, with no I/O: which pinned builds to install, how each app
stands, what the gateway is told. `agent.updates.apps` does the I/O around these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from wire.documents import MAX_APP_REPORTS, AppInstallReport, AppInstallStateName
from wire.policy import AppEntry

ERROR_CHARS = 200


class AppState(StrEnum):
    INSTALLED = "installed"
    PENDING = "pending"
    """Pinned, not installed, not tried yet in this run."""
    INSTALLING = "installing"
    FAILED = "failed"
    """A transient failure (network, repository, metadata, disk, clock): retried with backoff."""
    REFUSED = "refused"
    """This signed bundle is bad (hash, signature, wrong app, hostile image, manifest): it is not
    fetched again; a different release of the target, or another pinned version, is."""


_REPORTED: dict[AppState, AppInstallStateName] = {
    AppState.PENDING: "pending",
    AppState.INSTALLING: "installing",
    AppState.FAILED: "failed",
    AppState.REFUSED: "refused",
}


@dataclass(frozen=True, slots=True)
class AppStatus:
    app: str
    version: str
    state: AppState
    error: str = ""


def pinned(catalogue: Mapping[str, AppEntry]) -> dict[str, str]:
    """app id -> the version the wing policy pins."""
    return {app: entry.version for app, entry in catalogue.items()}


def to_install(pins: Mapping[str, str], verified: Mapping[str, bool]) -> list[str]:
    """The apps to install, by id: pinned, and whose build on disk does not verify (missing,
    another version, changed, or refused by `verify_app` for any reason)."""
    return [app for app in sorted(pins) if not verified.get(app, False)]


def bundle_key(version: str, sha256: str, length: int) -> str:
    """Identifies one signed bundle of one pinned version: what a refusal is remembered by (a
    refused bundle is not fetched again; a new release of the target has another key)."""
    return f"{version}:{sha256}:{length}"


def statuses_after_policy(
    current: Mapping[str, AppStatus], pins: Mapping[str, str], verified: Mapping[str, bool]
) -> dict[str, AppStatus]:
    """Every pinned app's status once the builds on disk were checked: installed ones say so;
    others keep a failure or refusal for the same version, else are pending. Apps the policy
    no longer pins are dropped."""
    result = {}
    for app, version in sorted(pins.items()):
        if verified.get(app, False):
            result[app] = AppStatus(app, version, AppState.INSTALLED)
            continue
        previous = current.get(app)
        if previous is not None and previous.version == version and previous.state in (
            AppState.FAILED, AppState.REFUSED, AppState.INSTALLING,
        ):
            result[app] = previous
        else:
            result[app] = AppStatus(app, version, AppState.PENDING)
    return result


def reports(statuses: Iterable[AppStatus]) -> tuple[AppInstallReport, ...]:
    """What `ReportedState.apps` carries: apps not installed, by id, at most MAX_APP_REPORTS."""
    rows = []
    for status in sorted(statuses, key=lambda s: s.app):
        state = _REPORTED.get(status.state)
        if state is None:
            continue
        rows.append(AppInstallReport(app=status.app, version=status.version[:32],
                                     state=state, error=status.error[:ERROR_CHARS]))
        if len(rows) == MAX_APP_REPORTS:
            break
    return tuple(rows)

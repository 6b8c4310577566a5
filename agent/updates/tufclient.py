"""What the estate released, according to TUF (python-tuf ngclient).

A new `Updater` for every lookup (ngclient refreshes once per instance), bootstrapped from the
root metadata baked into the image, so a tampered cache cannot become the trust anchor; the
local cache only carries later roots that chain from it. Expiry is judged against the trusted
clock, never the tablet's RTC alone: ngclient's public API has no reference time (it reads the
system clock), so after each refresh the metadata it trusts is judged again here, with tuf's
public `Metadata` API, against the trusted time (`expired_roles`). ngclient's own check stays
and can only refuse more (an RTC later than the trusted time), never accept more: no upgrade
of python-tuf can make an expired release look fresh here.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.ngclient import Updater, UpdaterConfig

from agent.updates.http import GatewayFetcher, SlowRetrievalError
from wire.tuf_layout import ReleaseMeta, TufLayout, release_meta

TrustedNow = Callable[[], datetime.datetime | None]


class UntrustedTime(Exception):
    """There is no time to judge metadata expiry by (yet): try again later, install nothing."""


def checked_time(now: datetime.datetime | None, floor_s: float) -> datetime.datetime:
    """The trusted time, if it may judge expiry: there is one, and it is not before `floor_s`
    (the image's build time, or a time already trusted). A clock before that is an attack on
    expiry: an old, expired release made to look fresh. Raises UntrustedTime."""
    if now is None:
        raise UntrustedTime("no trusted time yet")
    if now.timestamp() < floor_s:
        floor = datetime.datetime.fromtimestamp(floor_s, datetime.UTC).isoformat()
        raise UntrustedTime(f"trusted clock {now.isoformat()} is earlier than {floor}")
    return now

METADATA_LIMITS = UpdaterConfig(
    max_root_rotations=32,
    root_max_length=64 * 1024,
    timestamp_max_length=4 * 1024,
    snapshot_max_length=256 * 1024,
    targets_max_length=2 * 1024 * 1024,
    prefix_targets_with_hash=False,
    app_user_agent="cellbridge-agent",
)


class ReleaseRefused(Exception):
    """TUF, the clock or the release checks say no: install nothing."""


class TargetMissing(ReleaseRefused):
    """The metadata is fine but names no such target (perhaps not released yet)."""


class NotARelease(ReleaseRefused):
    """TUF vouches for the target, but its custom fields are not a Cellbridge release. Keeps
    the signed `info`: a plain TUF client (agent.updates.conformance) may still fetch it."""

    def __init__(self, reason: str, info: TargetFile) -> None:
        super().__init__(reason)
        self.info = info


class ReleaseUnavailable(Exception):
    """The repository could not be reached: nothing is wrong yet, try again later."""


@dataclass(frozen=True)
class Release:
    """A target TUF vouches for, with its parsed release fields."""

    info: TargetFile
    meta: ReleaseMeta


class TrustedReleases:
    def __init__(
        self,
        metadata_dir: Path,
        base_url: str,
        bootstrap_root: bytes,
        fetcher: GatewayFetcher,
    ) -> None:
        self.metadata_dir = Path(metadata_dir)
        self.base_url = base_url.rstrip("/")
        self.bootstrap_root = bootstrap_root
        self.fetcher = fetcher
        self._lock = threading.Lock()
        """One refresh at a time: the OS engine and the app installer share the metadata."""

    def lookup(self, target_path: str, now: datetime.datetime) -> Release:
        """Refresh metadata and return the target at `target_path`; raises ReleaseRefused.

        `now` is the trusted time the caller has checked against its floor.
        """
        found = self.lookup_all([target_path], now)[target_path]
        if isinstance(found, ReleaseRefused):
            raise found
        return found

    def lookup_all(
        self, target_paths: Iterable[str], now: datetime.datetime
    ) -> dict[str, Release | ReleaseRefused]:
        """One metadata refresh, then every target of `target_paths`: its Release, or what that
        target alone earned (TargetMissing, unusable release fields). A refresh that fails
        raises (ReleaseRefused, ReleaseUnavailable): it would fail for every target."""
        with self._lock:
            self.metadata_dir.mkdir(parents=True, exist_ok=True)
            try:
                with _metadata_errors():
                    updater = Updater(
                        metadata_dir=str(self.metadata_dir),
                        metadata_base_url=TufLayout.metadata_url(self.base_url),
                        target_base_url=TufLayout.targets_url(self.base_url),
                        fetcher=self.fetcher,
                        config=METADATA_LIMITS,
                        bootstrap=self.bootstrap_root,
                    )
                    updater.refresh()
                    check_fresh(self.metadata_dir, now)
                return {path: _target(updater, path) for path in target_paths}
            finally:
                os.sync()  # ngclient wrote metadata with rename but without fsync

    def target_url(self, target_path: str) -> str:
        return TufLayout.target_url(self.base_url, target_path)


TOP_LEVEL = (Root.type, Timestamp.type, Snapshot.type, Targets.type)


def expired_roles(metadata_dir: Path, now: datetime.datetime) -> list[str]:
    """The top-level roles of the metadata a refresh left in `metadata_dir` (the set ngclient
    trusts) that are expired at the trusted time `now`, each with its expiry."""
    expired = []
    for role in TOP_LEVEL:
        signed = Metadata.from_file(str(metadata_dir / f"{role}.json")).signed
        if signed.is_expired(now):
            expired.append(f"{role} expired {signed.expires.isoformat()}")
    return expired


def check_fresh(metadata_dir: Path, now: datetime.datetime) -> None:
    """Refuse what a refresh trusted unless it is fresh at the trusted time `now`. Delegated
    targets roles are refused outright: ngclient loads them later, on demand, judged by the
    system clock alone (the estate repository delegates nothing)."""
    expired = expired_roles(metadata_dir, now)
    if expired:
        raise exceptions.ExpiredMetadataError(
            f"{', '.join(expired)}; trusted time {now.isoformat()}")
    targets = Metadata[Targets].from_file(str(metadata_dir / f"{Targets.type}.json")).signed
    if targets.delegations is not None:
        raise exceptions.RepositoryError("delegated targets roles are not supported")


@contextlib.contextmanager
def _metadata_errors() -> Iterator[None]:
    """ngclient's errors as ours: refused (an attack, or metadata that is no good) or
    unavailable (the repository cannot be reached: try again later)."""
    try:
        yield
    except exceptions.RepositoryError as exc:
        raise ReleaseRefused(f"metadata refused: {type(exc).__name__}: {exc}") from exc
    except (exceptions.DownloadLengthMismatchError, SlowRetrievalError) as exc:
        raise ReleaseRefused(f"metadata download refused: {exc}") from exc
    except exceptions.DownloadError as exc:
        raise ReleaseUnavailable(f"repository unreachable: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise ReleaseRefused(f"metadata unusable: {exc}") from exc


def _target(updater: Updater, target_path: str) -> Release | ReleaseRefused:
    """One target of a refreshed `updater`. Delegated metadata it loads on the way fails for
    everyone (raises); what is wrong with this target alone is returned."""
    with _metadata_errors():
        info = updater.get_targetinfo(target_path)
    if info is None:
        return TargetMissing(f"no signed target {target_path!r}")
    try:
        return Release(info, release_meta(info.custom))
    except ValueError as exc:
        return NotARelease(str(exc), info)

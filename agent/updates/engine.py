"""The update engine: drives one update through the state machine in `states`, persisting the
record before acting on every new state, resuming from whatever state a power cut left as the
`RESUME` table says (and from a record it cannot read as `recovery` says).

I/O lives in its collaborators (TUF client, downloader, slot backend); this module only decides.
`run()` returns when there is nothing more to do now: settled, a reboot was requested, waiting
for the staff window, or a transient failure to retry later.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import urllib3

from agent.updates.download import (
    DownloadError,
    DownloadRefused,
    Expected,
    bundle_files,
    download,
    kept_bundle,
    verify_file,
)
from agent.updates.recovery import unknown_record
from agent.updates.slots import BundleRefused, SlotBackend, SlotError
from agent.updates.states import (
    BEFORE_SWITCH,
    RESUME,
    SETTLED,
    Action,
    Event,
    State,
    next_state,
)
from agent.updates.store import Pending, StoreError, UpdateRecord, UpdateStore
from agent.updates.tufclient import (
    ReleaseRefused,
    ReleaseUnavailable,
    TrustedNow,
    TrustedReleases,
    UntrustedTime,
    checked_time,
)
from wire.tuf_layout import ReleaseMeta, version_key

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    SETTLED = "settled"
    REBOOT = "reboot"
    WAITING = "waiting"  # installed; the staff window is closed
    RETRY = "retry"  # transient failure (network, no trusted time): call run() again later
    BUSY = "busy"  # another thread is running the engine


@dataclass(frozen=True)
class EngineConfig:
    work_dir: Path
    compatible: str
    not_before: int = 0
    """Unix seconds: the image's build time. A trusted clock earlier than this is refused."""
    download_deadline_s: float = 3600.0
    max_resumes: int = 8
    """Loop guard: an update resumed more often than this is abandoned (or rolled back)."""


class UpdateEngine:
    def __init__(
        self,
        config: EngineConfig,
        releases: TrustedReleases,
        pool: urllib3.PoolManager,
        slots: SlotBackend,
        now: TrustedNow,
        health: Callable[[], bool],
        window_open: Callable[[], bool] = lambda: True,
        report: Callable[[UpdateRecord], None] = lambda record: None,
    ) -> None:
        self.config = config
        self.store = UpdateStore(config.work_dir / "update.json")
        self.downloads = config.work_dir / "download"
        self.releases = releases
        self.pool = pool
        self.slots = slots
        self.now = now
        self.health = health
        self.window_open = window_open
        self.report = report
        self._record_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._started = False
        self._fresh: set[State] = set()
        """States entered by this process (their files need no re-check)."""
        self._actions: dict[Action, Callable[[UpdateRecord], Outcome | None]] = {
            Action.START: self._settled,
            Action.DOWNLOAD: self._download,
            Action.INSTALL: self._install,
            Action.SWITCH: self._switch,
            Action.VERIFY_BOOT: self._after_reboot,
            Action.HEALTH_CHECK: self._trial,
        }

    # ------------------------------------------------------------ public
    def offer(self, target: str, version: str) -> bool:
        """Note the update target of the desired state; True if it is new. Cheap, idempotent:
        a storm of identical notices changes nothing after the first."""
        with self._record_lock:
            record = self._load()
            if record.pending and (record.pending.target, record.pending.version) == (
                target, version):
                return False
            record.pending = Pending(target=target, version=version,
                                     offered=(record.pending.offered + 1 if record.pending else 1))
            self.store.save(record)
            return True

    def withdraw(self) -> None:
        """The desired state no longer names an update: forget the offer. An update still
        before its switch is abandoned at the next `run()`; one past it runs to its end."""
        with self._record_lock:
            record = self._load()
            if record.pending is not None:
                record.pending = None
                self.store.save(record)

    def state(self) -> UpdateRecord:
        """The record, for reports. Raises SlotError only when the record could not be read
        and the slots cannot be asked what to resume as (try again later)."""
        with self._record_lock:
            return self._load()

    def run(self) -> Outcome:
        """Advance the update as far as it can go now."""
        if not self._run_lock.acquire(blocking=False):
            return Outcome.BUSY
        try:
            return self._run()
        finally:
            self._run_lock.release()

    # ------------------------------------------------------------ machinery
    def _load(self) -> UpdateRecord:
        try:
            return self.store.load()
        except StoreError as exc:
            return self._recover(exc)

    def _recover(self, exc: StoreError) -> UpdateRecord:
        """Unknown progress: never commit on a guess (`recovery`). The record that could not be
        read is kept beside the new one, and its error reaches the gateway's audit."""
        log.error("%s", exc)
        booted, other = self.slots.booted(), self.slots.other()
        record = unknown_record(str(exc), booted, other, self.slots.is_good(other),
                                self.slots.boot_id())
        kept = self.store.keep_unreadable()
        log.error("unreadable update record kept as %s; resuming as %s", kept, record.state)
        self.store.save(record)
        return record

    def _save(self, record: UpdateRecord) -> None:
        with self._record_lock:
            current = self._load()
            record.pending = current.pending  # offers may arrive while we run
            self.store.save(record)
        self.report(record)

    def _go(self, record: UpdateRecord, event: Event, error: str = "") -> UpdateRecord:
        record.state = next_state(record.state, event)
        record.error = error
        record.progress = 0
        self._fresh.add(record.state)
        self._save(record)
        log.info("update %s: %s -> %s %s", record.version, event, record.state, error)
        return record

    def _run(self) -> Outcome:
        record = self.state()
        if not self._started:
            self._started = True
            outcome = self._resume(record)
            if outcome is not None:
                return outcome
        while True:
            if record.state in BEFORE_SWITCH:
                pending = self.state().pending
                if pending is None:
                    return self._abort(record, "withdrawn: the desired state names no update")
                if pending != record.handled:
                    # A newer offer before the switch: drop this one, then start that one.
                    self._abort(record, f"superseded by {pending.version}")
                    record = self.state()
                    continue
            outcome = self._actions[RESUME[record.state].action](record)
            if outcome is not None:
                return outcome

    def _resume(self, record: UpdateRecord) -> Outcome | None:
        """The first run of this process: confirm the running slot unless it may be on trial,
        and count the restart against the loop guard where the table says so."""
        # Every boot outside a trial confirms the running slot (committed before, it needs no
        # new proof, and a gateway outage must not make it fall back to an older one);
        # otherwise the bootloader spends its attempts and boots the other slot.
        on_trial = record.state not in SETTLED and self.slots.booted() == record.to_slot
        if not on_trial:
            self.slots.mark_good()
        if RESUME[record.state].guarded:
            record.resumes += 1
            self._save(record)
            if record.resumes > self.config.max_resumes:
                return self._abort(record, f"loop guard: resumed {record.resumes} times")
        return None

    def _abort(self, record: UpdateRecord, reason: str) -> Outcome:
        if record.state in BEFORE_SWITCH:
            if record.to_slot and record.state != State.DOWNLOADING:
                self.slots.mark_bad(record.to_slot)
            self._cleanup()
            self._go(record, Event.ABORT, reason)
            return Outcome.SETTLED
        if record.to_slot and self.slots.booted() == record.to_slot:
            self.slots.mark_bad(record.to_slot)
            record.rollback = True
            record.error = reason
            self._save(record)
            if record.state == State.TRIAL_BOOT:
                self._go(record, Event.UNHEALTHY, reason)
            self.slots.reboot()
            return Outcome.REBOOT
        if record.to_slot:
            self.slots.mark_bad(record.to_slot)
        self._go(record, Event.ABORT, reason)
        return Outcome.SETTLED

    # ------------------------------------------------------------ states
    def _settled(self, record: UpdateRecord) -> Outcome | None:
        pending = record.pending
        if pending is None or pending == record.handled:
            return Outcome.SETTLED
        now = self._trusted_now(record)
        if now is None:
            return Outcome.RETRY
        try:
            release = self.releases.lookup(pending.target, now)
            self._check_release(release.meta, pending, record)
        except ReleaseUnavailable as exc:
            record.error = str(exc)
            self._save(record)
            return Outcome.RETRY
        except ReleaseRefused as exc:
            record.handled = pending
            self._go(record, Event.REFUSED, str(exc))
            return Outcome.SETTLED
        record.handled = pending
        record.target = pending.target
        record.version = release.meta.version
        record.length = release.info.length
        record.hashes = dict(release.info.hashes)
        record.from_slot = self.slots.booted()
        record.to_slot = self.slots.other()
        record.from_version = self.slots.version(record.from_slot)
        record.boot_id = None
        record.rollback = False
        record.activated = False
        record.resumes = 0
        self._cleanup()
        self._go(record, Event.ACCEPTED)
        return None

    def _trusted_now(self, record: UpdateRecord) -> datetime.datetime | None:
        try:
            now = checked_time(self.now(), max(self.config.not_before, record.trusted_floor))
        except UntrustedTime as exc:
            record.error = str(exc)
            self._save(record)
            return None
        record.trusted_floor = int(now.timestamp())
        return now

    def _check_release(self, meta: ReleaseMeta, pending: Pending, record: UpdateRecord) -> None:
        if meta.kind != "os":
            raise ReleaseRefused(f"target is an {meta.kind} release, not an OS release")
        if meta.compatible != self.config.compatible:
            raise ReleaseRefused(
                f"release is for {meta.compatible!r}, this tablet is {self.config.compatible!r}")
        if version_key(meta.version) != version_key(pending.version):
            raise ReleaseRefused(
                f"signed version {meta.version} is not the offered {pending.version}")
        for known in (self.slots.version(self.slots.booted()), record.highest_version):
            if known is not None and version_key(meta.version) <= version_key(known):
                raise ReleaseRefused(
                    f"version {meta.version} is not newer than {known} (rollback refused)")

    def _bundle(self, record: UpdateRecord) -> tuple[Path, Path]:
        return bundle_files(self.downloads, self._expected(record))

    def _expected(self, record: UpdateRecord) -> Expected:
        assert record.length is not None
        return Expected(length=record.length, hashes=record.hashes)

    def _cleanup(self) -> None:
        if self.downloads.exists():
            for leftover in self.downloads.iterdir():
                leftover.unlink(missing_ok=True)

    def _download(self, record: UpdateRecord) -> Outcome | None:
        partial, bundle = self._bundle(record)
        self.downloads.mkdir(parents=True, exist_ok=True)
        expected = self._expected(record)
        if kept_bundle(bundle, expected):  # renamed just before a power cut
            self._go(record, Event.DOWNLOADED)
            return None
        step = max(1, expected.length // 20)
        last = [0]

        def progress(done: int, total: int) -> None:
            if done - last[0] >= step:
                last[0] = done
                record.progress = done * 100 // total
                self.report(record)

        assert record.target is not None
        try:
            download(self.pool, self.releases.target_url(record.target), partial, expected,
                     deadline_s=self.config.download_deadline_s, progress=progress)
        except DownloadRefused as exc:
            self._cleanup()
            self._go(record, Event.REFUSED, f"bundle refused: {exc}")
            return Outcome.SETTLED
        except (DownloadError, OSError) as exc:
            record.error = f"download interrupted: {exc}"
            self._save(record)
            return Outcome.RETRY
        partial.replace(bundle)
        self._go(record, Event.DOWNLOADED)
        return None

    def _install(self, record: UpdateRecord) -> Outcome | None:
        _, bundle = self._bundle(record)
        assert record.version is not None and record.to_slot is not None
        if record.state not in self._fresh:
            try:
                verify_file(bundle, self._expected(record))
            except (DownloadRefused, OSError) as exc:
                # The download is not fsynced: a power cut may have cost it bytes. The server's
                # bytes were verified once; what is lost here is ours, so fetch them again.
                if record.state == State.INSTALLING:
                    self.slots.mark_bad(record.to_slot)
                self._cleanup()
                self._go(record, Event.LOST, f"downloaded bundle lost in a restart: {exc}")
                return None
        if record.state == State.VERIFIED:
            self._go(record, Event.INSTALL)
        meta = ReleaseMeta(kind="os", version=record.version, compatible=self.config.compatible)
        try:
            self.slots.install(bundle, meta)
        except BundleRefused as exc:
            self._cleanup()
            self._go(record, Event.REFUSED, str(exc))
            return Outcome.SETTLED
        except SlotError as exc:
            # Not the bundle's fault (RAUC's service unreachable or restarting, a write that
            # failed): keep the verified bundle and try again later. A slot written halfway was
            # marked bad before its first byte, so nothing boots it meanwhile.
            record.error = f"install interrupted: {exc}"
            self._save(record)
            return Outcome.RETRY
        self._go(record, Event.INSTALL_DONE)
        self._cleanup()
        return None

    def _switch(self, record: UpdateRecord) -> Outcome | None:
        if not self.window_open():
            return Outcome.WAITING
        record.boot_id = self.slots.boot_id()
        record.activated = False
        self._go(record, Event.REBOOT)
        return self._activate_and_reboot(record)

    def _after_reboot(self, record: UpdateRecord) -> Outcome | None:
        assert record.to_slot is not None and record.from_slot is not None
        same_boot = self.slots.boot_id() == record.boot_id
        if self.slots.booted() == record.to_slot:
            if record.rollback:  # mark-bad did not stick: again
                self.slots.mark_bad(record.to_slot)
                self.slots.reboot()
                return Outcome.REBOOT
            record.boot_id = self.slots.boot_id()
            self._go(record, Event.BOOTED_NEW)
            return None
        if record.rollback or (record.activated and not same_boot):
            reason = record.error if record.rollback else "the new slot never reached mark-good"
            return self._rolled_back(record, reason)
        # Still the boot that asked for the switch, or the power failed before the new slot
        # was activated: activate (idempotent) and reboot again.
        return self._activate_and_reboot(record)

    def _activate_and_reboot(self, record: UpdateRecord) -> Outcome:
        assert record.to_slot is not None
        record.boot_id = self.slots.boot_id()
        record.activated = False
        self._save(record)
        self.slots.activate(record.to_slot)
        record.activated = True
        self._save(record)
        self.slots.reboot()
        return Outcome.REBOOT

    def _trial(self, record: UpdateRecord) -> Outcome | None:
        assert record.to_slot is not None
        if self.slots.booted() != record.to_slot:
            return self._rolled_back(record, "the new slot did not reach mark-good")
        if self._healthy():
            self.slots.mark_good()
            record.highest_version = record.version
            self._go(record, Event.HEALTHY)
            return Outcome.SETTLED
        self.slots.mark_bad(record.to_slot)
        record.rollback = True
        record.boot_id = self.slots.boot_id()
        self._go(record, Event.UNHEALTHY, "health check failed on the new slot")
        self.slots.reboot()
        return Outcome.REBOOT

    def _rolled_back(self, record: UpdateRecord, reason: str) -> Outcome:
        assert record.to_slot is not None
        self.slots.mark_bad(record.to_slot)
        if self._healthy():
            self.slots.mark_good()
        event = Event.BOOTED_OLD
        self._go(record, event, reason)
        return Outcome.SETTLED

    def _healthy(self) -> bool:
        try:
            return bool(self.health())
        except Exception as exc:  # a crashing health check is a failed one
            log.error("health check raised: %s", exc)
            return False

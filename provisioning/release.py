"""The estate's TUF repository on the IT station (`cellbridge release`).

Layout of a release directory:

    keys/       root-1..3.pem, targets.pem   offline keys, encrypted with the release passphrase
    online/     snapshot.pem, timestamp.pem  the gateway's keys (it re-signs timestamp unattended)
    release-ca/ ca.pem (goes into the tablet image as RAUC's keyring), release.pem, release.key
    metadata/   N.root.json, root.json, targets.json, snapshot.json, timestamp.json
    targets/    os/…raucb, app/…raucb

(metadata/ and targets/, target names and their `custom` field: `wire.tuf_layout`.)

Root needs 2 of its 3 keys; every role's keys are Ed25519. All metadata goes through
`tuf.api.metadata`, and every write is atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from common import appfs
from common.files import PRIVATE, copy_atomic, write_atomic
from common.tuf_repo import bump_snapshot, bump_timestamp, write_metadata
from provisioning.release_keys import (
    INSECURE_MARKER,
    ReleaseError,
    load_signer,
    make_release_ca,
    new_signer,
    private_pem,
)
from wire.appfs import IMAGE_NAME, SLOT_CLASS, HostileImage
from wire.manifest import MANIFEST_NAME, AppManifest
from wire.tuf_layout import (
    ONLINE_ROLES,
    ReleaseMeta,
    TufLayout,
    app_target_path,
    os_target_path,
    release_meta,
    root_version,
    version_key,
)

__all__ = ["EstateRepository", "ReleaseError", "build_rauc_bundle"]

ROOT_KEYS = 3
ROOT_THRESHOLD = 2
EXPIRY = {
    Root.type: datetime.timedelta(days=365),
    Targets.type: datetime.timedelta(days=90),
    Snapshot.type: datetime.timedelta(days=7),
    Timestamp.type: datetime.timedelta(days=1),
}
T = TypeVar("T", Root, Targets, Snapshot, Timestamp)
BundleFormat = Literal["verity", "plain"]

INSTALL_CHECK_HOOK = Path(__file__).with_name("install-check.sh")
"""The image's RAUC `install-check` hook (buildroot/board/common/rauc/hook; this is a link to
it): every OS bundle carries it, so RAUC on the tablet refuses another compatible string or a
version older than the running one, whatever the bundle's signature says."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


Progress = Callable[[str], None]
"""Told each stage of a long job as it starts (`cellbridge release` shows them on stderr)."""


def _silent(stage: str) -> None:
    """No one to tell."""


Advance = Callable[[int, int], None]
"""Told, step by step, how many bytes of how many a long step (hashing a bundle) has covered."""


def _no_advance(done: int, total: int) -> None:
    """No one to tell."""


def _sha256(path: Path, advance: Advance) -> tuple[int, str]:
    """`path`'s length and SHA-256, read in 1 MiB steps, each reported to `advance`."""
    digest, length = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        total = os.fstat(handle.fileno()).st_size
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            length += len(chunk)
            advance(length, max(total, length))
    return length, digest.hexdigest()


class EstateRepository(TufLayout):
    """One estate's release repository; each method is one signed, persisted step."""

    def __init__(self, directory: Path, passphrase: bytes | None) -> None:
        super().__init__(directory)
        if not self.role_file(Root.type).exists():
            raise ReleaseError(f"{self.dir} is not a release repository (run `release init`)")
        self.insecure = (self.dir / INSECURE_MARKER).exists()
        self.passphrase = None if self.insecure else passphrase
        """None: only what needs no offline key works (publish); signing says why it fails."""

    # ---- layout (beyond the TUF files: the offline keys and the release CA)
    @property
    def release_ca(self) -> Path:
        return self.dir / "release-ca" / "ca.pem"

    @property
    def release_cert(self) -> Path:
        return self.dir / "release-ca" / "release.pem"

    @property
    def release_key(self) -> Path:
        return self.dir / "release-ca" / "release.key"

    def key_path(self, name: str) -> Path:
        return self._key_file(self.dir, name)

    # ---- creation
    @classmethod
    def init(
        cls,
        directory: Path,
        passphrase: bytes | None,
        *,
        insecure_demo: bool = False,
        now: datetime.datetime | None = None,
    ) -> EstateRepository:
        """Create keys, the release CA and version 1 of every role."""
        directory = Path(directory)
        if TufLayout(directory).role_file(Root.type).exists():
            raise ReleaseError(f"{directory} already holds a release repository")
        if passphrase is None and not insecure_demo:
            raise ReleaseError("a release passphrase is required (or --insecure-demo-keys)")
        if insecure_demo:
            passphrase = None
            directory.mkdir(parents=True, exist_ok=True)
            (directory / INSECURE_MARKER).write_text(
                "The offline keys in this directory are NOT encrypted. Demo and tests only.\n"
            )
        now = now or utcnow()
        signers: dict[str, list[CryptoSigner]] = {}
        for role, count in (("root", ROOT_KEYS), ("targets", 1), ("snapshot", 1), ("timestamp", 1)):
            signers[role] = []
            for i in range(count):
                signer, private = new_signer()
                name = f"root-{i + 1}" if role == "root" else role
                key_pass = None if role in ONLINE_ROLES else passphrase
                pem = private_pem(private, key_pass)
                write_atomic(cls._key_file(directory, name), pem, PRIVATE)
                signers[role].append(signer)
        make_release_ca(directory / "release-ca", passphrase)

        root = Root(expires=now + EXPIRY[Root.type], consistent_snapshot=False)
        for role, role_signers in signers.items():
            for signer in role_signers:
                root.add_key(signer.public_key, role)
        root.roles[Root.type].threshold = ROOT_THRESHOLD
        repo = cls.__new__(cls)
        TufLayout.__init__(repo, directory)
        repo.insecure = insecure_demo
        repo.passphrase = passphrase
        repo._write(Root.type, Metadata(root), signers["root"])
        targets = Targets(expires=now + EXPIRY[Targets.type])
        repo._write(Targets.type, Metadata(targets), signers["targets"])
        repo._refresh_snapshot_and_timestamp(now)
        repo.targets_dir.mkdir(exist_ok=True)
        return repo

    @staticmethod
    def _key_file(directory: Path, name: str) -> Path:
        folder = "online" if name in ONLINE_ROLES else "keys"
        return directory / folder / f"{name}.pem"

    # ---- reading and writing roles
    def load(self, role: str, cls: type[T]) -> Metadata[T]:
        path = self.role_file(role)
        md: Metadata[Any] = Metadata.from_file(str(path))
        if not isinstance(md.signed, cls):
            raise ReleaseError(f"{path} is not {role} metadata")
        return md

    def signers(self, role: str) -> list[CryptoSigner]:
        """The signers on disk for `role`, in root's key order (all 3 for root)."""
        root = self.load(Root.type, Root).signed
        found = []
        for path in sorted(self.key_path(role).parent.glob("*.pem")):
            if not path.stem.startswith(role):
                continue
            signer = load_signer(path, None if role in ONLINE_ROLES else self.passphrase)
            if signer.public_key.keyid in root.roles[role].keyids:
                found.append(signer)
        if len(found) < root.roles[role].threshold:
            raise ReleaseError(f"only {len(found)} usable {role} keys; threshold is "
                               f"{root.roles[role].threshold}")
        return found

    def _write(self, role: str, md: Metadata[Any], signers: Iterable[CryptoSigner]) -> None:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        if role == Root.type:
            write_metadata(self.root_file(md.signed.version), md)
        write_metadata(self.role_file(role), md)

    def _refresh_snapshot_and_timestamp(self, now: datetime.datetime) -> None:
        targets = self.load(Targets.type, Targets).signed
        if self.role_file(Snapshot.type).exists():
            snapshot_md = self.load(Snapshot.type, Snapshot)
            snapshot_md.signed.version += 1
        else:
            snapshot_md = Metadata(Snapshot(expires=now))
        snapshot_md.signed.expires = now + EXPIRY[Snapshot.type]
        snapshot_md.signed.meta = {"targets.json": MetaFile(version=targets.version)}
        self._write(Snapshot.type, snapshot_md, self.signers(Snapshot.type))
        bump_timestamp(self, self.signers(Timestamp.type)[0], now,
                       EXPIRY[Timestamp.type])

    # ---- releases
    def check_newer(self, meta: ReleaseMeta) -> None:
        """Refuse a version not above every release of the same kind (and app) for the same
        tablets: checked before a long build as well as when the target is added."""
        for existing in self.load(Targets.type, Targets).signed.targets.values():
            other = release_meta(existing.custom)
            if (other.kind, other.app) == (meta.kind, meta.app) and version_key(
                other.version
            ) >= version_key(meta.version) and other.compatible == meta.compatible:
                raise ReleaseError(
                    f"version {meta.version} is not newer than released {other.version}: "
                    f"give a higher version"
                )

    def add_target(self, target_path: str, file: Path, meta: ReleaseMeta,
                   now: datetime.datetime | None = None,
                   advance: Advance = _no_advance) -> TargetFile:
        """Copy `file` into targets/ and sign a new targets version naming it. `advance` hears
        how far hashing it has got."""
        now = now or utcnow()
        self.check_newer(meta)
        targets_md = self.load(Targets.type, Targets)
        destination = self.target_file(target_path)
        copy_atomic(file, destination)
        length, digest = _sha256(destination, advance)
        info = TargetFile(length, {"sha256": digest}, target_path)
        info.unrecognized_fields["custom"] = meta.model_dump(exclude_none=True)
        targets_md.signed.targets[target_path] = info
        targets_md.signed.version += 1
        targets_md.signed.expires = now + EXPIRY[Targets.type]
        self._write(Targets.type, targets_md, self.signers(Targets.type))
        self._refresh_snapshot_and_timestamp(now)
        return info

    def release_os(self, image: Path, version: str, compatible: str,
                   now: datetime.datetime | None = None,
                   bundle_format: BundleFormat = "verity",
                   progress: Progress = _silent,
                   advance: Advance = _no_advance) -> TargetFile:
        """`progress` hears each stage as it starts: a large image takes minutes to bundle;
        `advance`, the bytes hashed so far of the bundle, step by step."""
        meta = ReleaseMeta(kind="os", version=version, compatible=compatible)
        self.check_newer(meta)
        progress("unlocking the release keys")
        self.signers(Targets.type)  # a wrong passphrase fails here, before any work
        with tempfile.TemporaryDirectory() as tmp:
            progress(f"building and signing the RAUC bundle of {image.name} "
                     f"({_size(image)})")
            bundle = build_rauc_bundle(
                {"rootfs": image}, version, compatible, self.release_cert, self.release_key,
                Path(tmp) / "bundle.raucb", self.passphrase, bundle_format,
                install_check=True,
            )
            progress(f"hashing the bundle ({_size(bundle)}) and signing the TUF metadata")
            return self.add_target(os_target_path(version), bundle, meta, now, advance)

    def release_app(self, app: str, payload: Path, version: str, compatible: str,
                    now: datetime.datetime | None = None,
                    progress: Progress = _silent,
                    advance: Advance = _no_advance) -> TargetFile:
        """`payload`: the app's folder, with the manifest the wing gateway sealed for this
        build (`staff policy sign-app`), packed here as its appfs image
        (`wire.appfs`); or an appfs image already packed."""
        meta = ReleaseMeta(kind="app", version=version, compatible=compatible, app=app)
        self.check_newer(meta)
        progress("unlocking the release keys")
        self.signers(Targets.type)
        with tempfile.TemporaryDirectory() as tmp:
            progress(f"building and signing the RAUC bundle of {payload.name}")
            if payload.is_dir():
                check_app_folder(payload, app, version)
                try:
                    payload = appfs.pack(payload, Path(tmp) / IMAGE_NAME)
                except HostileImage as exc:
                    raise ReleaseError(str(exc)) from exc
            bundle = build_rauc_bundle(
                {SLOT_CLASS: payload}, version, compatible, self.release_cert,
                self.release_key,
                Path(tmp) / "bundle.raucb", self.passphrase,
            )
            progress(f"hashing the bundle ({_size(bundle)}) and signing the TUF metadata")
            return self.add_target(app_target_path(app, version), bundle, meta, now, advance)

    # ---- keys
    def rotate_key(self, role: str, now: datetime.datetime | None = None,
                   replace: str | None = None) -> str:
        """Replace one key of `role` (the first, or the one with key id `replace`) by a new one.

        The new root is signed by the threshold of the old root *and* of the new one, so tablets
        holding the old root accept it. Returns the new key id.
        """
        if role not in EXPIRY:
            raise ReleaseError(f"unknown role {role!r}")
        now = now or utcnow()
        root_md = self.load(Root.type, Root)
        old_root_signers = self.signers(Root.type)
        self.signers(role)  # the old keys must be usable before anything changes
        keyids = root_md.signed.roles[role].keyids
        victim = replace or keyids[0]
        if victim not in keyids:
            raise ReleaseError(f"key {victim} is not a {role} key")
        signer, private = new_signer()
        root_md.signed.revoke_key(victim, role)
        root_md.signed.add_key(signer.public_key, role)
        root_md.signed.version += 1
        root_md.signed.expires = now + EXPIRY[Root.type]
        # Replace the key file: same name, so `signers()` keeps finding one file per key.
        for path in self.key_path(role).parent.glob(f"{role}*.pem"):
            key_pass = None if role in ONLINE_ROLES else self.passphrase
            if load_signer(path, key_pass).public_key.keyid == victim:
                write_atomic(path.with_name(path.name + ".retired"),
                              path.read_bytes(), PRIVATE)
                write_atomic(path, private_pem(private, key_pass), PRIVATE)
                break
        new_root_signers = [s for s in old_root_signers if s.public_key.keyid != victim]
        if role == Root.type:
            new_root_signers.append(signer)
        root_signers = {s.public_key.keyid: s for s in [*old_root_signers, *new_root_signers]}
        self._write(Root.type, root_md, root_signers.values())
        # Re-sign the roles whose keys changed, so the repository is consistent under the new root.
        if role == Targets.type:
            targets_md = self.load(Targets.type, Targets)
            targets_md.signed.version += 1
            self._write(Targets.type, targets_md, self.signers(Targets.type))
        self._refresh_snapshot_and_timestamp(now)
        return str(signer.public_key.keyid)

    # ---- handing over
    def publish(self, destination: Path) -> list[str]:
        """Copy targets, then metadata (timestamp last), then online keys, into a gateway's
        repository directory. Returns the files written."""
        served = TufLayout(destination)
        written: list[str] = []
        self._continue_online_versions(served)
        for src in sorted(self.targets_dir.rglob("*")):
            if not src.is_file():
                continue
            rel = src.relative_to(self.dir)
            dst = served.dir / rel
            if dst.exists() and dst.stat().st_size == src.stat().st_size:
                continue
            copy_atomic(src, dst)
            written.append(str(rel))
        versions = sorted(v for p in self.metadata_dir.glob("*.root.json")
                          if (v := root_version(p.name)) is not None)
        order = [*(self.root_file(v) for v in versions),
                 *(self.role_file(r) for r in ("root", "targets", "snapshot", "timestamp"))]
        for src in order:
            dst = served.metadata_dir / src.name
            copy_atomic(src, dst)
            written.append(str(dst.relative_to(served.dir)))
        for role in ONLINE_ROLES:
            key = self.key_path(role).read_bytes()
            write_atomic(served.online_key(role), key, PRIVATE)
        return written


    def _continue_online_versions(self, served: TufLayout) -> None:
        """The gateway re-signs snapshot and timestamp between publishes: continue after its
        versions, or tablets would see a rollback and refuse the new release."""
        if not served.role_file(Timestamp.type).exists():
            return
        their_snapshot = Metadata[Snapshot].from_file(str(served.role_file(Snapshot.type))).signed
        their_timestamp = Metadata[Timestamp].from_file(
            str(served.role_file(Timestamp.type))).signed
        now = utcnow()
        snapshot = self.load(Snapshot.type, Snapshot).signed
        timestamp = self.load(Timestamp.type, Timestamp).signed
        if snapshot.version <= their_snapshot.version:
            bump_snapshot(self, self.signers(Snapshot.type)[0], now,
                          EXPIRY[Snapshot.type], after=their_snapshot.version)
        if (snapshot.version <= their_snapshot.version
                or timestamp.version <= their_timestamp.version):
            bump_timestamp(self, self.signers(Timestamp.type)[0], now,
                           EXPIRY[Timestamp.type], after=their_timestamp.version)


def check_app_folder(folder: Path, app: str, version: str) -> None:
    """The sealed manifest in `folder` must be for this app and version (its signature is the
    tablet's to check, against the wing key): a mismatch would be refused on every tablet."""
    path = folder / MANIFEST_NAME
    seal = (f"seal the folder first with `cellbridge staff policy sign-app {folder} --app {app} "
            f"--version {version} --entry ENTRY`")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ReleaseError(f"{folder} has no {MANIFEST_NAME}: {seal}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"cannot read {path}: "
                           f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from exc
    try:
        manifest = AppManifest.model_validate_json(json.loads(text)["body"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{path} is not a sealed app manifest: {seal}") from exc
    if (manifest.app, manifest.app_version) != (app, version):
        raise ReleaseError(f"{folder / MANIFEST_NAME} is for {manifest.app} "
                           f"{manifest.app_version}, not {app} {version}")


def build_rauc_bundle(
    images: dict[str, Path],
    version: str,
    compatible: str,
    cert: Path,
    key: Path,
    output: Path,
    passphrase: bytes | None = None,
    bundle_format: BundleFormat = "verity",
    install_check: bool = False,
) -> Path:
    """Build a signed RAUC bundle with `rauc bundle`; one image per slot class. Tablets take
    only verity bundles; `plain` is for hosts without device-mapper (the RAUC service tests)."""
    ReleaseMeta(kind="os", version=version, compatible=compatible)  # validates both strings
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        content.mkdir()
        lines = ["[update]", f"compatible={compatible}", f"version={version}", "",
                 "[bundle]", f"format={bundle_format}", ""]
        for slot_class, image in images.items():
            if not image.is_file():
                raise ReleaseError(f"image {image} is not a file")
            if _same_fs(image, content):
                os.link(image, content / image.name)
            else:
                shutil.copyfile(image, content / image.name)
            lines += [f"[image.{slot_class}]", f"filename={image.name}", ""]
        if install_check:
            shutil.copyfile(INSTALL_CHECK_HOOK, content / "hook")
            (content / "hook").chmod(0o755)
            lines += ["[hooks]", "filename=hook", "hooks=install-check", ""]
        (content / "manifest.raucm").write_text("\n".join(lines))
        output.unlink(missing_ok=True)
        env = dict(os.environ)
        if passphrase is not None:
            env["RAUC_KEY_PASSPHRASE"] = passphrase.decode()
        result = subprocess.run(
            ["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(output)],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False,
        )
    if result.returncode != 0:
        raise ReleaseError(f"rauc bundle failed: {last_line(result.stderr or result.stdout)}")
    return output


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"

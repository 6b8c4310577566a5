"""`cellbridge release …`: sign and publish OS and app releases (TUF + RAUC), rotate keys.

The offline keys are encrypted with the release passphrase: from `--passphrase-file`, the
environment variable CELLBRIDGE_RELEASE_PASSPHRASE, or a prompt. `--insecure-demo-keys` (init
only) writes them unencrypted, for demos and tests, and marks the directory so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from common.cli import OneLineGroup, Pattern
from provisioning.release import EstateRepository, ReleaseError
from wire.tuf_layout import ReleaseMeta

PASSPHRASE_ENV = "CELLBRIDGE_RELEASE_PASSPHRASE"
DEFAULT_COMPATIBLE = "cellbridge-tablet"


VERSION = Pattern("version", r"\d{1,9}(\.\d{1,9}){0,3}",
                  "a release version: up to four numbers separated by dots, like 1.4.0")
COMPATIBLE = Pattern("compatible", r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                     "a RAUC compatible string: letters, digits, '.', '_' or '-' (at most 64), "
                     "like cellbridge-tablet")
APP_ID = Pattern("app", r"[a-z][a-z0-9_.-]{0,63}",
                 "an app id: a lower-case letter, then lower-case letters, digits, '.', '_' or "
                 "'-', like education")


def interactive() -> bool:
    """Whether a person is there to answer a prompt."""
    return sys.stdin.isatty()


def _stage(stage: str) -> None:
    click.echo(f"… {stage}", err=True)


def _quiet(stage: str) -> None:
    """--json: the output is for a script, which reads only the answer."""


class Meter:
    """How far the hashing of a bundle has got, on stderr: redrawn in place on a terminal, one
    line per tenth elsewhere (`--progress` into a log)."""

    def __init__(self, label: str, in_place: bool) -> None:
        self.label, self.in_place, self.shown = label, in_place, -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        step = percent if self.in_place else percent // 10 * 10
        if step == self.shown:
            return
        self.shown = step
        line = (f"  {self.label} [{'#' * (step // 5):<20}] {step:3d}% "
                f"({done / 1e6:.1f} of {total / 1e6:.1f} MB)")
        if self.in_place:
            click.echo(f"\r{line}", err=True, nl=step == 100)
        else:
            click.echo(line, err=True)


def _meter(progress: bool | None, as_json: bool) -> Callable[[int, int], None]:
    """What reports the hashing of a bundle: a meter with `--progress`, or by default when
    stderr is a terminal and the output is not `--json`; else nothing."""
    in_place = sys.stderr.isatty()
    if progress if progress is not None else (in_place and not as_json):
        return Meter("hashing", in_place)
    return _no_meter


def _no_meter(done: int, total: int) -> None:
    """No meter shown."""


def _passphrase(passphrase_file: Path | None, confirm: bool = False,
                directory: Path = Path("release")) -> bytes:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise click.ClickException(f"cannot read the release passphrase file "
                                       f"{passphrase_file}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise click.ClickException(
                f"release passphrase file {passphrase_file} is not text (UTF-8): give the file "
                "that holds the release passphrase, on its first line") from exc
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV]
    elif interactive():
        what = "new release passphrase" if confirm else "release passphrase"
        text = click.prompt(f"The {what} (it encrypts the offline TUF and RAUC signing keys "
                            f"in {directory})", hide_input=True, confirmation_prompt=confirm,
                            err=True)
    else:
        raise click.ClickException(
            f"the release keys in {directory} are encrypted: give the release passphrase with "
            f"--passphrase-file or set {PASSPHRASE_ENV}")
    if len(text) < 12 and confirm:
        raise click.ClickException("the release passphrase must be at least 12 characters "
                                   "(it protects the estate's offline signing keys)")
    if len(text) < 12:
        raise click.ClickException(
            f"wrong release passphrase for the keys in {directory} (it has at least 12 "
            "characters): give the one set at `cellbridge release init`")
    return text.encode()


def _open(directory: Path, passphrase_file: Path | None) -> EstateRepository:
    insecure = (directory / "INSECURE-DEMO-KEYS").exists()
    try:
        return EstateRepository(directory, None if insecure
                                else _passphrase(passphrase_file, directory=directory))
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from exc


def _compatible(directory: Path) -> str:
    try:
        return (directory / "compatible").read_text().strip()
    except OSError as exc:
        raise click.ClickException("give --compatible (none was set at init)") from exc


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)


DIR = click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("release"),
                   show_default=True, help="The estate's release directory.")
PASSFILE = click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
                        help=f"File holding the release passphrase (else ${PASSPHRASE_ENV}).")
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
PROGRESS = click.option("--progress/--no-progress", default=None,
                        help="Show how far hashing the bundle has got, on stderr [default: on a "
                             "terminal, unless --json].")


@click.group(cls=OneLineGroup)
def release() -> None:
    """Sign and publish OS and app releases (TUF metadata + RAUC bundles)."""


@release.command("init")
@DIR
@PASSFILE
@click.option("--insecure-demo-keys", is_flag=True,
              help="Write the offline keys UNENCRYPTED (demos and tests only).")
@click.option("--compatible", default=DEFAULT_COMPATIBLE, show_default=True, type=COMPATIBLE,
              help="RAUC compatible string of the estate's tablets (the default for releases).")
@JSON
def init(directory: Path, passphrase_file: Path | None, insecure_demo_keys: bool,
         compatible: str, as_json: bool) -> None:
    """Create the TUF repository: root 2-of-3, targets, snapshot, timestamp; a release CA."""
    passphrase = (None if insecure_demo_keys
                  else _passphrase(passphrase_file, confirm=True, directory=directory))
    try:
        ReleaseMeta(kind="os", version="1", compatible=compatible)
        repo = EstateRepository.init(directory, passphrase, insecure_demo=insecure_demo_keys)
        (directory / "compatible").write_text(compatible + "\n")
    except (ReleaseError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    _emit(as_json, {"dir": str(repo.dir), "root": str(repo.root_file(1)),
                    "release_ca": str(repo.release_ca), "insecure": insecure_demo_keys},
          f"release repository created in {repo.dir}\n"
          f"  bake into the image: {repo.root_file(1)} (TUF root), "
          f"{repo.release_ca} (RAUC keyring)")


@release.command("os")
@DIR
@PASSFILE
@click.option("--version", "version", required=True, type=VERSION,
              help="Release version, e.g. 1.4.0.")
@click.option("--compatible", default=None, type=COMPATIBLE,
              help="RAUC compatible string of the tablet type (default: the one set at init).")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON
@PROGRESS
def release_os(directory: Path, passphrase_file: Path | None, version: str,
               compatible: str | None, image: Path, as_json: bool, progress: bool | None) -> None:
    """Build a signed RAUC bundle of IMAGE and add it as a TUF target."""
    repo = _open(directory, passphrase_file)
    try:
        info = repo.release_os(image, version, compatible or _compatible(directory),
                               progress=_quiet if as_json else _stage,
                               advance=_meter(progress, as_json))
    except (ReleaseError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    _emit(as_json, {"target": info.path, "length": info.length, "hashes": info.hashes},
          f"released {info.path} ({info.length} bytes, sha256 {info.hashes['sha256']})")


@release.command("app")
@DIR
@PASSFILE
@click.option("--app", "app", required=True, type=APP_ID, help="App id, e.g. education.")
@click.option("--version", "version", required=True, type=VERSION,
              help="Release version, e.g. 1.4.0.")
@click.option("--compatible", default=None, type=COMPATIBLE,
              help="Default: the one set at init.")
@click.argument("payload", type=click.Path(exists=True, path_type=Path))
@JSON
@PROGRESS
def release_app(directory: Path, passphrase_file: Path | None, app: str, version: str,
                compatible: str | None, payload: Path, as_json: bool,
                progress: bool | None) -> None:
    """Build a signed RAUC bundle of an app and add it as a TUF target.

    PAYLOAD is the app's folder, holding the manifest its wing gateway sealed for this build
    (`cellbridge staff policy sign-app FOLDER --app ID --version V --entry E`); tablets whose
    wing policy pins this version install it. (An appfs image already packed works too.)"""
    repo = _open(directory, passphrase_file)
    try:
        info = repo.release_app(app, payload, version, compatible or _compatible(directory),
                                progress=_quiet if as_json else _stage,
                                advance=_meter(progress, as_json))
    except (ReleaseError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    _emit(as_json, {"target": info.path, "length": info.length, "hashes": info.hashes},
          f"released {info.path} ({info.length} bytes)")


@release.command("publish")
@DIR
@click.argument("gateway_repo", type=click.Path(file_okay=False, path_type=Path))
@JSON
def publish(directory: Path, gateway_repo: Path, as_json: bool) -> None:
    """Copy signed metadata, bundles and the online keys into a gateway's repository dir.

    GATEWAY_REPO is the directory the wing gateway serves its repository from (its
    [repository] dir); the gateway signs snapshot and timestamp with the online keys."""
    try:
        written = EstateRepository(directory, None).publish(gateway_repo)
    except (ReleaseError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(as_json, {"written": written}, f"published {len(written)} files to {gateway_repo}")


@release.command("rotate-key")
@DIR
@PASSFILE
@click.option("--role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]),
              required=True, help="Which role's key to replace.")
@click.option("--keyid", default=None, help="The key to replace (default: the role's first).")
@JSON
def rotate_key(directory: Path, passphrase_file: Path | None, role: str, keyid: str | None,
               as_json: bool) -> None:
    """Replace a key; the new root is signed by the old and the new root thresholds."""
    repo = _open(directory, passphrase_file)
    try:
        new = repo.rotate_key(role, replace=keyid)
    except (ReleaseError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(as_json, {"role": role, "keyid": new},
          f"{role} key replaced by {new}; publish to hand the new root to the gateways")

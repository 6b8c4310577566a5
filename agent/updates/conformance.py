"""The update client as a "client-under-test" of the TUF conformance suite.

theupdateframework/tuf-conformance drives a client through a small CLI (its CLIENT-CLI.md):
`--metadata-dir D init ROOT`, `... --metadata-url U refresh`, `... --target-name P
--target-base-url T --target-dir O download`. This is that CLI over the agent's own code, so the
suite measures what tablets run: `TrustedReleases` (the same Updater set-up, metadata limits and
deadline fetcher) for metadata, and `download.download` (streaming, hash-checked) for targets.

The root given to `init` plays the root baked into the image: every refresh bootstraps from it.
The agent reads `metadata/` and `targets/` side by side under one repository URL, so the two
URLs must be that pair. Targets are fetched by plain path: our repositories never use consistent
snapshots, and the agent never asks for hash-prefixed names (docs/tuf-conformance.md).

Trusted time: the agent judges expiry by its trusted clock (a `TrustedNow`, checked by
`checked_time`, handed to `lookup_all`). Here that clock is the machine's clock
(`system_now`, which the suite moves with faketime), passed explicitly through the same hook,
with no floor (there is no image build time).

Run as `python -m agent.updates.conformance ...`, or scripts/tuf-conformance-client.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib import parse

import click
from tuf.api.metadata import TargetFile

from agent.updates.config import system_now
from agent.updates.download import DownloadError, DownloadRefused, Expected, download, kept_bundle
from agent.updates.http import GatewayFetcher, make_pool
from agent.updates.tufclient import (
    NotARelease,
    Release,
    ReleaseRefused,
    ReleaseUnavailable,
    TrustedNow,
    TrustedReleases,
    UntrustedTime,
    checked_time,
)

ANCHOR = Path("bootstrap", "root.json")
"""Under the metadata dir: the root `init` was given (the suite only reads `*.json` there)."""
DOWNLOAD_DEADLINE_S = 300.0


@dataclass(frozen=True)
class Options:
    """The protocol's options, which come before its command."""

    metadata_dir: Path
    metadata_url: str | None
    target_names: tuple[str, ...]
    target_base_url: str | None
    target_dir: Path | None
    ca_file: Path | None


def open_releases(options: Options) -> TrustedReleases:
    """The agent's client of the repository whose `metadata/` is --metadata-url, bootstrapped
    from the root `init` kept."""
    url = (options.metadata_url or "").rstrip("/")
    if not url.endswith("/metadata"):
        raise click.UsageError("--metadata-url must be <repository>/metadata/")
    try:
        bootstrap = (options.metadata_dir / ANCHOR).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"not initialised ({exc}): run init first") from exc
    fetcher = GatewayFetcher(make_pool(options.ca_file))
    return TrustedReleases(options.metadata_dir, url.removesuffix("/metadata"), bootstrap, fetcher)


def lookup(releases: TrustedReleases, target_paths: list[str], now: TrustedNow = system_now,
           ) -> dict[str, Release | ReleaseRefused]:
    """One refresh judged at `now` (no floor), then `target_paths`; raises ClickException."""
    try:
        return releases.lookup_all(target_paths, checked_time(now(), 0))
    except (UntrustedTime, ReleaseRefused, ReleaseUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc


def fetch_target(releases: TrustedReleases, info: TargetFile, target_dir: Path) -> None:
    """Download `info` into `target_dir` under its quoted path (kept if it still verifies)."""
    expected = Expected(length=info.length, hashes=dict(info.hashes))
    final = target_dir / parse.quote(info.path, "")
    if kept_bundle(final, expected):
        return
    partial = final.with_name(final.name + ".partial")  # never left behind: the suite reads it
    try:
        download(releases.fetcher.pool, releases.target_url(info.path), partial, expected,
                 deadline_s=DOWNLOAD_DEADLINE_S)
        partial.replace(final)
    except (DownloadError, DownloadRefused, OSError) as exc:
        raise click.ClickException(f"{info.path}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


@click.group()
@click.option("--metadata-dir", type=click.Path(path_type=Path), required=True)
@click.option("--metadata-url")
@click.option("--target-name", "target_names", multiple=True)
@click.option("--target-base-url")
@click.option("--target-dir", type=click.Path(path_type=Path))
@click.option("--ca-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="CA of an HTTPS repository (ours; not part of the suite's protocol).")
@click.option("-v", "--verbose", count=True)
@click.pass_context
def cli(ctx: click.Context, metadata_dir: Path, metadata_url: str | None,
        target_names: tuple[str, ...], target_base_url: str | None, target_dir: Path | None,
        ca_file: Path | None, verbose: int) -> None:
    """TUF conformance client-under-test over Cellbridge's update client."""
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else
                        logging.INFO if verbose else logging.WARNING)
    ctx.obj = Options(metadata_dir, metadata_url, target_names, target_base_url, target_dir,
                      ca_file)


@cli.command()
@click.argument("trusted_root", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.pass_obj
def init(obj: Options, trusted_root: Path) -> None:
    """Trust TRUSTED_ROOT as the image's root (no request is made)."""
    (obj.metadata_dir / ANCHOR).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trusted_root, obj.metadata_dir / ANCHOR)
    shutil.copyfile(trusted_root, obj.metadata_dir / "root.json")


@cli.command()
@click.pass_obj
def refresh(obj: Options) -> None:
    """Refresh the top-level metadata."""
    lookup(open_releases(obj), [])


@cli.command("download")
@click.pass_obj
def download_command(obj: Options) -> None:
    """Refresh, then download each --target-name in order; stop at the first failure."""
    if not obj.target_names or obj.target_dir is None or obj.target_base_url is None:
        raise click.UsageError("download needs --target-name, --target-dir and --target-base-url")
    releases = open_releases(obj)
    if obj.target_base_url.rstrip("/") != releases.target_url("").rstrip("/"):
        raise click.UsageError("--target-base-url must be the repository's targets/")
    found = lookup(releases, list(obj.target_names))
    for name in obj.target_names:
        result = found[name]
        if not isinstance(result, Release | NotARelease):
            raise click.ClickException(str(result))
        fetch_target(releases, result.info, obj.target_dir)


if __name__ == "__main__":
    cli()

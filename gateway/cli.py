"""`cellbridge gateway`: run the wing gateway (service and control API in one process)."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import signal
import socket
import sqlite3
from pathlib import Path

import click

from common.cli import OneLineGroup
from common.config import ConfigError, load
from common.files import socket_listening
from common.text import inert
from gateway.config import GatewayConfig
from gateway.staff.params import TEXT

log = logging.getLogger(__name__)


def bind_api_socket(path: Path, group: str | None = None) -> socket.socket:
    """A listening Unix socket replacing a stale one left by a crash: mode 0660 owned by `group`
    (only the staff may connect), or 0600 (the gateway's own account only) when there is no such
    group or the gateway may not give the socket to it — said once at start, never fatal, since
    0600 is the narrower of the two."""
    if path.exists() or path.is_symlink():
        if socket_listening(path):
            raise ConfigError(f"{path}: another gateway is already serving this socket")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # 0600 until it belongs to the staff group
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    if group is not None:
        try:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        except KeyError:
            log.warning("API socket %s: no group %r: only this gateway's own account may use"
                        " it (mode 0600)", path, group)
        except PermissionError:
            log.warning("API socket %s: may not give it to group %r: only this gateway's own"
                        " account may use it (mode 0600)", path, group)
        else:
            os.chmod(path, 0o660)
    sock.listen(128)
    return sock


async def serve(config: GatewayConfig, stop: asyncio.Event | None = None) -> None:
    """Run the gateway service and its API until `stop` is set, then stop cleanly.

    Without `stop`, SIGTERM and SIGINT stop it (the `gateway run` process); with one, it runs
    beside other services in the caller's event loop (the demo) and touches no signal handler.
    """
    import uvicorn

    from common.staff_web.serving import QuietServer
    from gateway.api import make_app
    from gateway.caller_api import PeerCredentialsProtocol
    from gateway.console.accounts_api import accounts_router
    from gateway.console.app import build_console
    from gateway.console.assign import assign_router
    from gateway.service import GatewayService

    service = GatewayService(config)
    console = build_console(service)
    api = make_app(service)
    api.include_router(accounts_router(console.book, console.sessions, service.io,
                                       service.clock))
    api.include_router(assign_router(console.book, service.requests, service.io))
    sock = bind_api_socket(config.api_socket, config.api_group)
    # A staff request waiting on tablets must not hold up a shutdown for long.
    server = QuietServer(uvicorn.Config(api, log_level="warning", lifespan="off",
                                        access_log=False, timeout_graceful_shutdown=2,
                                        http=PeerCredentialsProtocol))
    loop = asyncio.get_running_loop()
    signals: tuple[signal.Signals, ...] = ()
    if stop is None:
        stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    service_task = asyncio.create_task(service.run())
    api_task = asyncio.create_task(server.serve(sockets=[sock]))
    stopper = asyncio.create_task(stop.wait())
    others = set()
    if config.repository is not None:
        from gateway.repository_server import run_repository

        others.add(asyncio.create_task(run_repository(config.repository)))
    console_web = None
    if config.console is not None:
        from gateway.console.serving import console_server

        console_web = console_server(console, config.console)
        others.add(asyncio.create_task(console_web.serve()))
    try:
        done, _ = await asyncio.wait(
            {service_task, api_task, stopper, *others}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            error = None if task is stopper else task.exception()
            if error is not None:
                raise error
    finally:
        server.should_exit = True
        if console_web is not None:
            console_web.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(api_task, 5)
        for task in (service_task, stopper, *others):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await service_task
        service.close()
        sock.close()
        for sig in signals:
            loop.remove_signal_handler(sig)
        with contextlib.suppress(FileNotFoundError):
            config.api_socket.unlink()


@click.group(cls=OneLineGroup)
def gateway() -> None:
    """The wing gateway: desired state, reconciliation, audit, control API."""


@gateway.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Gateway TOML file.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="The least serious messages logged (to stderr, i.e. the journal).")
def run(config_path: Path, log_level: str) -> None:
    """Run the gateway service and its control API until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load(GatewayConfig, config_path)
        asyncio.run(serve(config))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"cannot use the gateway's state database: {exc}") from exc


@gateway.command()
@click.option("--device", "device_id", required=True, type=TEXT,
              help="Tablet id (its certificate CN).")
@click.option("--cell", required=True, type=TEXT, help="The tablet's cell, e.g. 1-07.")
@click.option("--landing", required=True, type=TEXT,
              help="The landing (floor) of the wing the cell is on, e.g. 1.")
@click.option("--api", "api_path", envvar="CELLBRIDGE_GATEWAY_API", default=None,
              type=click.Path(path_type=Path), help="The gateway's API socket.")
@click.option("--config", "config_path", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Gateway TOML file (to find its API socket).")
def register(device_id: str, cell: str, landing: str, api_path: Path | None,
             config_path: Path | None) -> None:
    """Register a tablet with the running gateway: where it is (cell and landing), for staff
    screens and lockdowns by landing."""
    from gateway.staff.client import DEFAULT_API, ApiClient, fail, operator

    if api_path is None and config_path is not None:
        try:
            api_path = load(GatewayConfig, config_path).api_socket
        except ConfigError as exc:
            fail(2, str(exc))
    if api_path is None:
        api_path = DEFAULT_API
    reply = ApiClient(api_path).call(
        "POST", "/v1/tablets",
        {"id": device_id, "cell": cell, "landing": landing, "by": operator()},
    )
    if not isinstance(reply, dict):
        fail(3, "unexpected answer from the gateway")
    click.echo(inert(f"registered {device_id} (cell {cell}, landing {landing})")
               + ("" if reply.get("changed") else ": already so"))


@gateway.command()
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Gateway TOML file.")
@click.option("--keep-days", default=90, show_default=True, type=click.IntRange(min=1),
              help="Audit entries and answered requests younger than this stay in the database.")
@click.option("--archive-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where archived audit entries go [default: <state_dir>/audit-archive].")
@click.option("--vacuum", is_flag=True, help="Give the freed pages back to the file system.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Only verify the whole history: the archives, then the live chain.")
def compact(config_path: Path, keep_days: int, archive_dir: Path | None, vacuum: bool,
            verify_only: bool) -> None:
    """Archive old audit entries behind a checkpoint (the chain stays verifiable) and prune
    answered requests: what keeps a year of a wing on the gateway's disk."""
    import time

    from gateway import retention
    from gateway.store import Store

    try:
        config = load(GatewayConfig, config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    archive = archive_dir or config.state_dir / "audit-archive"
    store = Store(config.database)
    try:
        if not verify_only:
            done = retention.compact(store, archive, keep_days * 86_400_000,
                                     time.time_ns() // 1_000_000, vacuum=vacuum)
            point = done.checkpoint
            click.echo(inert(f"archived audit entries {point.first}-{point.last} to "
                             f"{archive / point.archive}") if point else
                       "no audit entry old enough to archive")
            click.echo(f"pruned {done.requests_pruned} answered requests")
        check = retention.verify_archives(store, archive)
    finally:
        store.close()
    if not check.ok:
        raise click.ClickException(inert(
            f"audit history breaks at entry {check.broken_at}: {check.problem}"))
    click.echo(f"audit history verifies: {check.entries} entries")

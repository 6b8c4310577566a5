"""`cellbridge prison`: run the prison service, lock or unlock every wing, show the prison view.

`lock` records a signed command in the prison's store; the running service sends it to every
wing. Lifting it needs two people: `unlock` only records a request, and a second, different OS
account runs `unlock approve ID` within 10 minutes (`prison/lift_requests.py`); only then is the
unlock signed, naming both. Who acts is the OS account running the command (`--by` is a note
beside it). With `--wait S` the lock and the approval wait up to S seconds and name, per wing,
what has not confirmed: a wing that has not applied the command, or its tablets not yet
reporting the wing lockdown that carries it. Exit 0 when everything confirmed, 2 when the
two-person rule refuses, 3 when something did not confirm in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from common.cli import OneLineGroup
from common.config import ConfigError, load
from common.staff_identity import os_account, recorded_by
from common.staff_web.account_text import qr_option, show_accounts, show_enrolment
from common.staff_web.accounts import NAME_PATTERN, Account, AccountBook, AccountError, Enrolment
from common.staff_web.roles import Role, parse_roles
from common.text import inert
from prison import lift_requests, staff_actions, view
from prison.config import PrisonConfig
from prison.store import PrisonStore, StoreError, StoreUnavailable
from wire.envelope import private_key_from_pem
from wire.prison import WingSummary

if TYPE_CHECKING:
    from prison.service import PrisonService

NOT_CONFIRMED_EXIT = 3
REFUSED_EXIT = 2

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Prison service TOML file.")


def _load(config_path: Path) -> PrisonConfig:
    try:
        return load(PrisonConfig, config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _open_store(config: PrisonConfig) -> PrisonStore:
    try:
        return config.open_store()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(cls=OneLineGroup)
def prison() -> None:
    """The prison service and prison-wide commands (docs/prison.md)."""


@prison.command()
@config_option
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="The least serious messages logged (to stderr, i.e. the journal).")
def run(config_path: Path, log_level: str) -> None:
    """Run the prison service beside the prison broker until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(_load(config_path)))


async def serve(config: PrisonConfig) -> None:
    from prison.service import PrisonService

    try:
        service = PrisonService(config)
    except StoreError as exc:  # at start: say so and exit 1 (a supervisor restarts us)
        raise click.ClickException(str(exc)) from exc
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_with_console(service)
    finally:
        service.close()


async def run_with_console(service: PrisonService) -> None:
    """The service, and with `[console]` its staff web console over HTTPS beside it, until
    cancelled or either of them fails."""
    if service.config.console is None:
        await service.run()
        return
    from prison.console.app import build_console, console_server

    console = build_console(service.config)
    web = console_server(console)
    running = asyncio.create_task(service.run())
    tasks = {running, asyncio.create_task(web.serve())}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            finished.result()
        raise click.ClickException("the prison console's server stopped")
    finally:
        web.should_exit = True  # uvicorn closes its connections itself, within 2 s
        running.cancel()
        await asyncio.wait(tasks, timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        console.close()


def _command(config_path: Path, reason: str, by: str | None, wait_s: float,
             as_json: bool) -> None:
    """A prison-wide lockdown, signed as the OS account running this."""
    config = _load(config_path)
    key = private_key_from_pem(config.signing_key.read_bytes())
    store = _store_for_a_command(config)
    try:
        try:
            command = staff_actions.lock(store, config, key, _staff(by), reason, _now_ms())
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        except StoreUnavailable as exc:
            raise click.ClickException(
                f"command not recorded, nothing will be sent: {exc}") from exc
        _report(config, store, command.version, "lock", wait_s, as_json)
    finally:
        store.close()


def _staff(by: str | None) -> staff_actions.Staff:
    """The OS account running this (with its `--by` note), as commands and events name it."""
    return staff_actions.Staff.os_account(recorded_by(os_account(), by))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _store_for_a_command(config: PrisonConfig) -> PrisonStore:
    try:
        return config.open_store()
    except StoreError as exc:
        raise click.ClickException(f"command not recorded, nothing will be sent: {exc}") from exc


def _report(config: PrisonConfig, store: PrisonStore, version: int, action: str, wait_s: float,
            as_json: bool, extra: dict[str, object] | None = None) -> None:
    """Wait for the command's confirmations (up to `wait_s`) and say what confirmed."""
    pending, unreadable = wait_for(store, config.wings, version, wait_s)
    try:
        links = {w: store.link(w) for w in config.wings}
    except StoreUnavailable:
        links = dict.fromkeys(config.wings)
    if as_json:
        click.echo(json.dumps({"command": version, "action": action, **(extra or {}),
                               "unconfirmed": pending,
                               **({"store_unavailable": unreadable} if unreadable else {})},
                              indent=2))
    elif unreadable:
        # Recorded (the service sends it), but whether it confirmed cannot be read now.
        click.echo(f"prison {action}: command {version} recorded for "
                   f"{len(config.wings)} wings; confirmation unknown: {inert(unreadable)}")
    else:
        click.echo(f"prison {action}: command {version} for {len(config.wings)} wings")
        if wait_s > 0:
            for wing in config.wings:
                names = pending.get(wing)
                if names is None:
                    click.echo(f"  wing {inert(wing)}: confirmed")
                else:
                    shown = ", ".join(inert(n) for n in names[:20])
                    more = f" (+{len(names) - 20})" if len(names) > 20 else ""
                    link = links[wing]
                    down = (f" (link down since {_when(link.since)})"
                            if link is not None and not link.up else "")
                    click.echo(f"  wing {inert(wing)}: not confirmed: {shown}{more}{down}")
    if wait_s > 0 and (pending or unreadable):
        raise SystemExit(NOT_CONFIRMED_EXIT)


def wait_for(store: PrisonStore, wings: list[str], version: int, wait_s: float,
             interval_s: float = 0.1) -> tuple[dict[str, list[str]], str]:
    """Poll the view until every wing and tablet confirmed `version` or `wait_s` passed:
    (what has not confirmed, "" or why the view could not be read at the end). A store that goes
    away meanwhile is tried again until the deadline; nothing is taken as confirmed unread."""
    deadline = time.monotonic() + wait_s
    pending = {w: ["not read: the store is unavailable"] for w in wings}
    while True:
        try:
            pending, unreadable = view.pending(store, wings, version), ""
        except StoreUnavailable as exc:
            unreadable = str(exc)
        if (not pending and not unreadable) or time.monotonic() >= deadline:
            return pending, unreadable
        time.sleep(interval_s)


_wait_option = click.option("--wait", "wait_s", type=click.FloatRange(0, 3600), default=0.0,
                            help="Wait up to S seconds for every tablet to confirm.")
_json_option = click.option("--json", "as_json", is_flag=True,
                            help="One JSON object, for scripts.")
_by_option = click.option("--by", default=None,
                          help="A note beside your OS account, which is who acts.")


@prison.command()
@config_option
@click.option("--reason", required=True, help="Why (goes into every wing's audit).")
@_by_option
@_wait_option
@_json_option
def lock(config_path: Path, reason: str, by: str | None, wait_s: float, as_json: bool) -> None:
    """Lock every tablet of every wing (a prison-wide lockdown)."""
    _command(config_path, reason, by, wait_s, as_json)


@prison.group(cls=OneLineGroup, invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Prison service TOML file.")
@click.option("--reason", default=None, help="Why (goes into every wing's audit).")
@_by_option
@_json_option
@click.pass_context
def unlock(ctx: click.Context, config_path: Path | None, reason: str | None, by: str | None,
           as_json: bool) -> None:
    """Ask to lift the prison-wide lockdown: a second, different OS account approves it with
    `unlock approve ID` within 10 minutes (each tablet's own lock stays as it is)."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None or reason is None:
        raise click.UsageError("give --config FILE and --reason TEXT (or `unlock approve ID`)")
    config = _load(config_path)
    store = _store_for_a_command(config)
    try:
        try:
            request = staff_actions.ask_lift(store, config, _staff(by), reason, _now_ms())
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        except StoreUnavailable as exc:
            raise click.ClickException(f"request not recorded: {exc}") from exc
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"awaiting_approval": request.as_json()}, indent=2))
        return
    click.echo(f"asked to lift the prison lockdown ({request.id}); nothing is lifted yet: "
               "another member of staff, as their own OS account, runs "
               f"`cellbridge prison unlock approve {request.id} --config {config_path}` within "
               "10 minutes, else it lapses")


@unlock.command()
@click.argument("request_id", metavar="ID")
@config_option
@_wait_option
@_json_option
def approve(request_id: str, config_path: Path, wait_s: float, as_json: bool) -> None:
    """Approve lifting the prison lockdown that another member of staff asked for (ID, as
    `unlock` printed it): it is signed, naming both of you, and sent to every wing now."""
    config = _load(config_path)
    key = private_key_from_pem(config.signing_key.read_bytes())
    store = _store_for_a_command(config)
    try:
        try:
            request, command = staff_actions.approve_lift(store, config, key, _staff(None),
                                                          request_id, _now_ms())
        except lift_requests.LiftError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(REFUSED_EXIT) from exc
        except StoreUnavailable as exc:
            raise click.ClickException(
                f"not approved, nothing will be sent: {exc}") from exc
        if not as_json:
            click.echo(f"approved: the prison lockdown is lifted by {inert(command.by)}")
        _report(config, store, command.version, "unlock", wait_s, as_json,
                {"by": command.by, "request": request.as_json()})
    finally:
        store.close()


def _gateway_lines(summary: WingSummary | None) -> list[str]:
    """What the wing gateway itself counts, and its rollouts (text from the wing made inert)."""
    if summary is None:
        return ["gateway: no summary yet"]
    lines = [f"gateway at {_when(summary.at)}: tablets {summary.tablets}, online "
             f"{summary.online}, locked {summary.locked}, in curfew {summary.in_curfew}, "
             f"wing lockdown {summary.lockdown_version}"]
    for r in summary.rollouts:
        state = r.stage + (" (paused)" if r.paused else "")
        lines.append(
            f"rollout {inert(r.id)} {inert(r.version)}: {state}; {r.succeeded}/{r.tablets} "
            f"succeeded, {r.failed} failed, {r.in_progress} in progress, {r.waiting} waiting, "
            f"{r.not_reached} not reached" + (f"; {inert(r.reason)}" if r.reason else ""))
    return lines


def _when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


@prison.command()
@config_option
@click.option("--wing", "wing_id", help="List this wing's tablets too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(config_path: Path, wing_id: str | None, as_json: bool) -> None:
    """Per wing: link up/down and since when, tablets online/locked/in curfew, audit head."""
    config = _load(config_path)
    store = _open_store(config)
    try:
        wings = view.prison_status(store, config.wings)
        tablets = store.tablets(wing_id) if wing_id else []
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"prison": config.prison,
                               "wings": [w.as_json() for w in wings],
                               "tablets": [asdict(t) for t in tablets]}, indent=2))
        return
    for w in wings:
        click.echo(
            f"wing {inert(w.wing)}: link {w.link} since {_when(w.since)}; tablets {w.tablets}, "
            f"online {w.online}, locked {w.locked}, in curfew {w.in_curfew}; "
            f"audit head {w.audit_seq} {w.audit_hash[:12]}; command applied {w.command_applied}"
            + (f"; refused: {inert(w.refused)}" if w.refused else ""))
        for line in _gateway_lines(w.gateway):
            click.echo("  " + line)
    for t in tablets:
        click.echo(f"  {inert(t.device)}: {'online' if t.online else 'offline'}, "
                   f"{'locked' if t.locked else 'unlocked'}, curfew {inert(t.curfew)}, "
                   f"lockdown {t.lockdown_version}, reported {_when(t.reported_at)}")



@prison.command()
@config_option
@click.option("--verify", is_flag=True, help="Check each wing's hash chain, entry by entry.")
@click.option("--wing", "wing_id", help="Only this wing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def audit(config_path: Path, verify: bool, wing_id: str | None, as_json: bool) -> None:
    """Each wing's audit trail as the prison holds it: entries held, the head held without a
    gap, and with --verify whether its hash chain holds (exit 1 when a chain is broken)."""
    config = _load(config_path)
    if wing_id is not None and wing_id not in config.wings:
        raise click.ClickException(inert(f"{wing_id} is not a wing of this prison"))
    wings = [wing_id] if wing_id else config.wings
    store = _open_store(config)
    try:
        held = {w: (store.audit_count(w), store.audit_head(w)) for w in wings}
        checks = {w: store.verify_audit(w) for w in wings} if verify else {}
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    broken = [w for w, check in checks.items() if not check.ok]
    if as_json:
        click.echo(json.dumps({"wings": [
            {"wing": w, "entries": held[w][0], "head_seq": held[w][1][0],
             "head_hash": held[w][1][1],
             **({"verify": asdict(checks[w])} if verify else {})} for w in wings]}, indent=2))
    else:
        for w in wings:
            count, (seq, digest) = held[w]
            line = f"wing {inert(w)}: {count} entries held, head {seq} {digest[:12]}"
            if verify:
                check = checks[w]
                line += (f"; chain verifies ({check.entries} entries)" if check.ok else
                         f"; chain BROKEN at entry {check.broken_at}: {inert(check.problem)}")
            click.echo(line)
    if broken:
        raise click.ClickException(inert(
            "audit chain broken for wing " + ", ".join(broken)))


@prison.group(cls=OneLineGroup)
def account() -> None:
    """Staff accounts of the prison console (add, disable, reset, list), kept in the prison
    store; each change is recorded as the OS account running the command."""


def _accounts(config_path: Path) -> tuple[PrisonStore, AccountBook]:
    from prison.console.accounts import prison_account_book

    store = _open_store(_load(config_path))
    return store, prison_account_book(store)


def _account_change(config_path: Path, change: Callable[[AccountBook, str, int], object]
                    ) -> object:
    """Run `change(book, who, now)` on the prison store; a refusal is exit 2, as at the wing."""
    store, book = _accounts(config_path)
    try:
        return change(book, f"staff:{recorded_by(os_account(), None)}", _now_ms())
    except AccountError as exc:
        click.echo(f"Error: {inert(str(exc))}", err=True)
        raise SystemExit(REFUSED_EXIT) from exc
    except StoreError as exc:
        raise click.ClickException(f"not changed: {exc}") from exc
    finally:
        store.close()


def _enrol(config_path: Path, change: Callable[[AccountBook, str, int], Enrolment],
           qr_file: Path | None, as_json: bool) -> None:
    """An account added or reset: its holder is told the enrolment once."""
    made = _account_change(config_path, change)
    assert isinstance(made, Enrolment)
    show_enrolment({"name": made.name, "password": made.password, "totp_uri": made.totp_uri},
                   qr_file, as_json)


@account.command("add")
@click.argument("name")
@click.option("--display", required=True, help="The name shown in the console.")
@click.option("--roles", required=True,
              help=f"Comma-separated: {', '.join(r.value for r in Role)}.")
@qr_option
@config_option
@_json_option
def account_add(name: str, display: str, roles: str, qr_file: Path | None, config_path: Path,
                as_json: bool) -> None:
    """Add the console account NAME; print its one-time password (and TOTP enrolment for
    security/admin)."""
    if not re.fullmatch(NAME_PATTERN, name):
        click.echo("Error: a name is 1-32 of a-z, 0-9, '.', '_', '-', starting with a letter",
                   err=True)
        raise SystemExit(REFUSED_EXIT)
    try:
        chosen = parse_roles(roles)
    except ValueError as exc:
        click.echo(f"Error: {inert(str(exc))}", err=True)
        raise SystemExit(REFUSED_EXIT) from exc
    _enrol(config_path, lambda book, by, now: book.add(name, display[:120], chosen, by, now),
           qr_file, as_json)


@account.command("reset")
@click.argument("name")
@qr_option
@config_option
@_json_option
def account_reset(name: str, qr_file: Path | None, config_path: Path, as_json: bool) -> None:
    """A lost password or second factor of account NAME: a new one-time password (and TOTP
    enrolment); the account's sessions can do nothing but change it."""
    _enrol(config_path, lambda book, by, now: book.reset(name, by, now), qr_file, as_json)


@account.command("disable")
@click.argument("name")
@config_option
@_json_option
def account_disable(name: str, config_path: Path, as_json: bool) -> None:
    """Disable account NAME: it can no longer sign in, and its sessions end at their next page."""
    changed = _account_change(config_path, lambda book, by, now: book.set_disabled(
        name, True, by, now))
    assert isinstance(changed, Account)
    if as_json:
        click.echo(json.dumps(changed.as_json(), indent=2))
    else:
        click.echo(f"account {inert(name)} disabled")


@account.command("list")
@config_option
@_json_option
def account_list(config_path: Path, as_json: bool) -> None:
    """Every account: roles, state, second factor."""
    store, book = _accounts(config_path)
    try:
        accounts = book.accounts()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    show_accounts([a.as_json() for a in accounts], as_json)

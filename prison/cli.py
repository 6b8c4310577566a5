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
import signal
import time
from dataclasses import asdict
from pathlib import Path

import click

from common.cli import OneLineGroup
from common.config import ConfigError, load
from common.staff_identity import os_account, recorded_by
from common.text import inert
from prison import lift_requests, view
from prison.commands import issue_lockdown
from prison.config import PrisonConfig
from prison.store import Command, PrisonStore, StoreError, StoreUnavailable
from wire.envelope import private_key_from_pem
from wire.prison import WingSummary

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
            await service.run()
    finally:
        service.close()


def _command(config_path: Path, reason: str, by: str | None, wait_s: float,
             as_json: bool) -> None:
    """A prison-wide lockdown, signed as the OS account running this."""
    config = _load(config_path)
    key = private_key_from_pem(config.signing_key.read_bytes())
    store = _store_for_a_command(config)
    try:
        try:
            command = issue_lockdown(store, key, config.prison, locked=True,
                                     by=recorded_by(os_account(), by), reason=reason,
                                     now_ms=_now_ms(), ttl_s=config.command_ttl_s)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        except StoreUnavailable as exc:
            raise click.ClickException(
                f"command not recorded, nothing will be sent: {exc}") from exc
        _report(config, store, command.version, "lock", wait_s, as_json)
    finally:
        store.close()


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


def unconfirmed(store: PrisonStore, wings: list[str], version: int) -> dict[str, list[str]]:
    return view.unconfirmed(version, wings, {w: store.applied(w) for w in wings},
                            {w: store.tablets(w) for w in wings})


def wait_for(store: PrisonStore, wings: list[str], version: int, wait_s: float,
             interval_s: float = 0.1) -> tuple[dict[str, list[str]], str]:
    """Poll the view until every wing and tablet confirmed `version` or `wait_s` passed:
    (what has not confirmed, "" or why the view could not be read at the end). A store that goes
    away meanwhile is tried again until the deadline; nothing is taken as confirmed unread."""
    deadline = time.monotonic() + wait_s
    pending = {w: ["not read: the store is unavailable"] for w in wings}
    while True:
        try:
            pending, unreadable = unconfirmed(store, wings, version), ""
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
            request = lift_requests.ask(store, reason, recorded_by(os_account(), by), _now_ms())
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
        def issue(both: str, reason: str) -> Command:
            return issue_lockdown(store, key, config.prison, locked=False, by=both,
                                  reason=reason, now_ms=_now_ms(), ttl_s=config.command_ttl_s)

        try:
            request, command = lift_requests.approve(store, request_id, f"os:{os_account()}",
                                                     _now_ms(), issue)
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
        wings = [view.wing_status(w, store.link(w), store.tablets(w), store.applied(w),
                                  store.audit_head(w), store.summary(w)) for w in config.wings]
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

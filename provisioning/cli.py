"""`cellbridge provision`: the estate PKI, wings, tablet enrolment, revocation and inventory.

Every failure is one line on stderr and a non-zero exit, and leaves the estate as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import getpass
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from common.cli import OneLineGroup
from provisioning import estate as est
from provisioning import pki, tablet_data
from provisioning.inventory import InventoryError, Status
from provisioning.mosquitto_conf import ULIMIT_NOTE
from wire import certs
from wire.enrolment import BundleError

PASSPHRASE_ENV = "CELLBRIDGE_ESTATE_PASSPHRASE"
MIN_PASSPHRASE = 12
PASSPHRASE_HOW = (
    "give the estate passphrase chosen at `cellbridge provision init`, with --passphrase-file "
    f"FILE, ${PASSPHRASE_ENV}, or at the prompt in a terminal"
)
F = TypeVar("F", bound=Callable[..., Any])


class Host(click.ParamType):
    """A host name (letters, digits and '-' in dot-separated labels) or an IP address: what a
    broker certificate can name and a tablet can dial. Anything else is refused on its option."""

    name = "host"
    _LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value)
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(text))
        labels = text.removesuffix(".").split(".")
        if len(text) > 253 or not all(self._LABEL.fullmatch(label) for label in labels):
            self.fail(f"{text!r} is not a host name or IP address: use letters, digits and '-' "
                      "in dot-separated parts, like gw-a.prison.example, or an address like "
                      "10.0.0.5", param, ctx)
        return text


HOST = Host()


class BadUsage(click.ClickException):
    """A wrong combination of options: one line, exit code 2 like click's own usage errors."""

    exit_code = 2


def _one_line_errors(func: F) -> F:
    """Our errors become click's one-line `Error: …` with exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except certs.WrongPassphrase as exc:
            raise click.ClickException(f"{str(exc).splitlines()[0]}: {PASSPHRASE_HOW}") from exc
        except (est.EstateError, certs.PkiError, InventoryError, BundleError) as exc:
            raise click.ClickException(str(exc).splitlines()[0]) from exc
        except OSError as exc:
            raise click.ClickException(f"{exc.filename or ''}: {exc.strerror}".strip(": ")) from exc

    return wrapper  # type: ignore[return-value]


def _passphrase_options(func: F) -> F:
    func = click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Read the estate passphrase from this file (else ${PASSPHRASE_ENV}, else a prompt).",
    )(func)
    return func


def _read_passphrase(
    passphrase_file: Path | None, *, confirm: bool = False, root: Path | None = None
) -> bytes:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise click.ClickException(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise click.ClickException(
                f"passphrase file {passphrase_file} is not text (UTF-8): give the file that "
                "holds the estate passphrase, on its first line"
            ) from exc
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        where = f" in {root}" if root is not None else ""
        what = "A new estate passphrase" if confirm else "The estate passphrase"
        text = click.prompt(
            f"{what} (it encrypts the estate's root and wing CA keys{where})",
            hide_input=True, confirmation_prompt=confirm, err=True,
        )
    else:
        raise click.ClickException(
            "the estate passphrase is needed (it encrypts the estate's CA keys): give "
            f"--passphrase-file, set ${PASSPHRASE_ENV}, or run in a terminal to be asked"
        )
    if not text:
        raise click.ClickException("the estate passphrase must not be empty")
    return text.encode("utf-8")


def _passphrase_for(estate: est.Estate, passphrase_file: Path | None) -> bytes | None:
    """The passphrase, asked for only when the estate's keys are encrypted."""
    return _read_passphrase(passphrase_file, root=estate.root) if estate.meta().encrypted else None


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--estate",
    "estate_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("estate"),
    envvar="CELLBRIDGE_ESTATE",
    show_default=True,
    help="The estate directory (env CELLBRIDGE_ESTATE).",
)
@click.pass_context
def provision(ctx: click.Context, estate_dir: Path) -> None:
    """Estate PKI, wings, tablet enrolment, revocation and inventory (IT staff)."""
    ctx.obj = est.Estate(estate_dir)


_pass_estate = click.make_pass_decorator(est.Estate)


def _estate_here(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.obj = est.Estate(value)


def pass_estate(func: F) -> F:
    """Hand the command its estate; `--estate DIR` is taken after the command's name as well as
    before it (`provision enrol --estate DIR …` works as `provision --estate DIR enrol …`)."""
    command = _pass_estate(func)
    return click.option(  # type: ignore[return-value]
        "--estate", type=click.Path(file_okay=False, path_type=Path), default=None,
        expose_value=False, is_eager=True, callback=_estate_here,
        help="The estate directory (also accepted before the command's name).",
    )(command)


@provision.command()
@click.option("--name", default="Cellbridge estate", show_default=True, help="The estate's name.")
@_passphrase_options
@click.option(
    "--insecure-demo-keys",
    is_flag=True,
    help="Store CA keys unencrypted. For the demo and tests only, never a real estate.",
)
@pass_estate
@_one_line_errors
def init(
    estate: est.Estate, name: str, passphrase_file: Path | None, insecure_demo_keys: bool
) -> None:
    """Create the estate: an offline root CA (key encrypted with a passphrase) and the inventory."""
    if insecure_demo_keys and (passphrase_file or os.environ.get(PASSPHRASE_ENV)):
        raise BadUsage("--insecure-demo-keys takes no passphrase")
    passphrase = None
    if not insecure_demo_keys:
        passphrase = _read_passphrase(passphrase_file, confirm=True, root=estate.root)
        if len(passphrase) < MIN_PASSPHRASE:
            raise click.ClickException(
                f"the estate passphrase needs at least {MIN_PASSPHRASE} characters"
            )
    est.init_estate(estate.root, name, passphrase)
    kind = "UNENCRYPTED demo keys" if insecure_demo_keys else "passphrase-encrypted keys"
    click.echo(f"estate {name!r} created in {estate.root} ({kind})")
    click.echo(f"root fingerprint (sha256): {certs.fingerprint(estate.root_cert())}")


@provision.command()
@click.option("--wing", "wing_id", required=True, help="Wing id (letters, digits, . _ -).")
@click.option(
    "--broker-host",
    default="127.0.0.1",
    show_default=True,
    type=HOST,
    help="Address tablets use to reach the wing broker.",
)
@click.option("--broker-port", default=8883, show_default=True, type=click.IntRange(1, 65535),
              help="The wing broker's TLS port.")
@click.option("--repository-port", default=8443, show_default=True,
              type=click.IntRange(1, 65535),
              help="The port the wing gateway serves releases to tablets on ([repository] port).")
@click.option(
    "--san",
    "extra_names",
    multiple=True,
    type=HOST,
    help="Another name or IP for the broker certificate.",
)
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the broker's files live on the wing host [/etc/cellbridge/broker/WING].",
)
@click.option(
    "--install",
    is_flag=True,
    help="Also install the broker files into --broker-dir on this machine.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@_passphrase_options
@pass_estate
@_one_line_errors
def wing(
    estate: est.Estate,
    wing_id: str,
    broker_host: str,
    broker_port: int,
    repository_port: int,
    extra_names: tuple[str, ...],
    broker_dir: Path | None,
    install: bool,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Create a wing: CA, broker and gateway certificates, gateway signing key, broker config."""
    passphrase = _passphrase_for(estate, passphrase_file)
    meta = est.create_wing(
        estate,
        wing_id,
        passphrase,
        broker_host=broker_host,
        broker_port=broker_port,
        broker_dir=broker_dir,
        server_names=extra_names,
        repository_port=repository_port,
    )
    console = estate.gateway_material(wing_id)
    conf = est.install_broker(estate, wing_id) if install else None
    if as_json:
        click.echo(json.dumps({
            "wing": wing_id, "broker_files": str(estate.broker_material(wing_id)),
            "gateway_files": str(console), "broker_dir": str(meta.broker_dir),
            "console_cert": str(console / est.CONSOLE_CERT),
            "console_key": str(console / est.CONSOLE_KEY),
            "broker_config": str(conf) if conf is not None else None}, indent=2))
        return
    click.echo(
        f"wing {wing_id!r} created: broker files in {estate.broker_material(wing_id)}, "
        f"gateway files in {console}"
    )
    click.echo(f"staff console certificate: {console / est.CONSOLE_CERT} "
               f"(key {console / est.CONSOLE_KEY})")
    if conf is not None:
        click.echo(f"broker installed: mosquitto -c {conf}")
    else:
        click.echo(f"install the broker files in {meta.broker_dir} on the wing host")
    click.echo(ULIMIT_NOTE)


@provision.command()
@click.option(
    "--csr",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A tablet's CSR (from `agent enrol-request`).",
)
@click.option("--wing", "wing_id", help="The tablet's wing (with --csr).")
@click.option("--cell", help="The tablet's cell (with --csr).")
@click.option("--serial", help="Hardware serial number (with --csr; else taken from the CSR).")
@click.option(
    "--batch",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CSV file whose first line is the header tablet_id,wing,cell or "
    "tablet_id,wing,cell,serial, then one tablet a line (e.g. T-0001,w1,1-01,SN123); keys are "
    "made here. Every bad row is reported with its line number.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where bundles go [ESTATE/bundles].",
)
@click.option(
    "--by", "enrolled_by", default=lambda: getpass.getuser(), help="Who enrols (for the inventory)."
)
@click.option(
    "--days",
    default=pki.TABLET_DAYS,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Certificate validity.",
)
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output: one object per tablet enrolled, with its bundle.")
@_passphrase_options
@pass_estate
@_one_line_errors
def enrol(
    estate: est.Estate,
    csr: Path | None,
    wing_id: str | None,
    cell: str | None,
    serial: str | None,
    batch: Path | None,
    out: Path | None,
    enrolled_by: str,
    days: int,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Sign a tablet's CSR into an enrolment bundle, or make keys and bundles for a batch."""
    if (csr is None) == (batch is None):
        raise BadUsage("give either --csr FILE (with --wing and --cell) or --batch FILE")
    if csr is not None:
        if not wing_id or not cell:
            raise BadUsage("--csr needs --wing and --cell")
        try:
            requests = [est.request_from_csr(_read_input(csr, "CSR"), wing_id, cell, serial)]
        except est.EstateError as exc:
            raise click.ClickException(
                f"{csr}: {exc} (a tablet makes its request with `cellbridge agent "
                "enrol-request`)") from exc
    else:
        if wing_id or cell or serial:
            raise BadUsage("--batch takes wing, cell and serial from the CSV")
        assert batch is not None
        try:
            text = _read_input(batch, "batch CSV").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"batch CSV {batch} is not UTF-8") from exc
        try:
            estate.meta()  # a missing estate is that, not a CSV of unknown wings
            enrolled = {t.tablet_id: f"{t.status.value}, wing {t.wing}"
                        for t in estate.inventory.all()}
            requests = est.read_batch(text, estate.wings(), enrolled)
        except est.EstateError as exc:
            problems = str(exc).splitlines()
            if len(problems) == 1:
                raise click.ClickException(f"{batch}: {problems[0]}") from exc
            for problem in problems:
                click.echo(f"{batch}: {problem}", err=True)
            raise click.ClickException(
                f"{batch}: {len(problems)} bad rows (above); nothing was enrolled") from exc
    estate.meta()
    passphrase = _passphrase_for(estate, passphrase_file)
    batch_run = est.prepare_enrolment(estate, requests, passphrase, out)
    if len(requests) == 1 or as_json:
        tablets = batch_run.run(enrolled_by=enrolled_by, validity_days=days)
    else:
        with click.progressbar(length=len(requests), label="enrolling", file=sys.stderr) as bar:
            tablets = batch_run.run(
                enrolled_by=enrolled_by, validity_days=days, progress=lambda _done: bar.update(1)
            )
    where = out or estate.bundles
    if as_json:
        click.echo(json.dumps([{"tablet_id": t.tablet_id, "wing": t.wing, "cell": t.cell,
                                "bundle": str(where / t.tablet_id)} for t in tablets]))
        return
    for tablet in tablets if len(tablets) <= 5 else []:
        click.echo(
            f"enrolled {tablet.tablet_id} (wing {tablet.wing}, cell {tablet.cell}): "
            f"bundle {where / tablet.tablet_id}"
        )
    if len(tablets) > 5:
        click.echo(f"enrolled {len(tablets)} tablets: bundles in {where}")


@provision.command("tablet-data")
@click.option("--device", "device_id", required=True, help="The tablet id (enrolled, active).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The tablet's data partition, mounted here (or a folder to copy onto it): "
    "OUT/enrolment/ is written.",
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    help="The tablet's enrolment bundle [ESTATE/bundles/DEVICE].",
)
@click.option(
    "--gateway-addr",
    help="The wing gateway's IPv4 address, when the bundle names the broker by a host name "
    "(the tablet's firewall opens to an address only).",
)
@click.option(
    "--board",
    type=click.Choice(sorted(tablet_data.BOARDS)),
    default="rpi4",
    show_default=True,
    help="The tablet image's board (its RAUC compatible).",
)
@click.option(
    "--no-updates",
    is_flag=True,
    help="No [updates]: for a development image built without the estate's TUF root.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@pass_estate
@_one_line_errors
def tablet_data_command(
    estate: est.Estate,
    device_id: str,
    out: Path,
    bundle: Path | None,
    gateway_addr: str | None,
    board: str,
    no_updates: bool,
    as_json: bool,
) -> None:
    """Write what an enrolled tablet's data partition needs before its first boot: its
    enrolment bundle, agent.toml and network.env (the firewall's one peer), in OUT/enrolment/."""
    estate.meta()
    bundle = bundle or estate.bundles / device_id
    try:
        plan = tablet_data.plan_for(estate, device_id, bundle, gateway_addr=gateway_addr,
                                    board=None if no_updates else board)
        written = tablet_data.write_tablet_data(bundle, out, plan)
    except tablet_data.TabletDataError as exc:
        raise click.ClickException(str(exc)) from exc
    result = {"tablet": device_id, "wing": plan.wing, "enrolment": str(written),
              "gateway": plan.gateway_addr, "ports": list(plan.ports),
              "updates": plan.compatible}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    updates = f"updates for {plan.compatible}" if plan.compatible else "no updates"
    click.echo(f"tablet {device_id} (wing {plan.wing}): {written} written; firewall open to "
               f"{plan.gateway_addr} ports {','.join(map(str, plan.ports))}; {updates}")


def _read_input(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > 4 * 1024 * 1024:
        raise click.ClickException(f"{what} {path} is larger than 4 MiB")
    return data


@provision.command()
@click.option("--device", "device_id", required=True, help="The tablet id.")
@click.option(
    "--reason", required=True, help="Why (lost, broken, jailbroken…): kept in the inventory."
)
@click.option(
    "--as",
    "status",
    type=click.Choice([s.value for s in Status if s is not Status.ACTIVE]),
    default=Status.REVOKED.value,
    show_default=True,
    help="The tablet's new status.",
)
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A broker directory on this machine to update [the wing's].",
)
@click.option(
    "--reload-command",
    help="Command that ships the CRL (its path appended) and reloads the wing broker, "
    "instead of a local SIGHUP.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@_passphrase_options
@pass_estate
@_one_line_errors
def revoke(
    estate: est.Estate,
    device_id: str,
    reason: str,
    status: str,
    broker_dir: Path | None,
    reload_command: str | None,
    as_json: bool,
    passphrase_file: Path | None,
) -> None:
    """Revoke a tablet: its certificate joins the wing CRL, the broker reloads, the inventory
    marks it."""
    estate.meta()
    if not reason.strip():
        raise BadUsage("--reason must not be empty")
    known = estate.inventory.get(device_id)
    if known is None:
        raise click.ClickException(f"unknown tablet {device_id!r}")
    passphrase = _passphrase_for(estate, passphrase_file)
    tablet = est.revoke(estate, device_id, reason, passphrase, status=Status(status))
    crl = estate.broker_material(tablet.wing) / "crl.pem"
    result: dict[str, object] = {"tablet": device_id, "status": tablet.status.value,
                                 "crl": str(crl)}
    if not as_json:
        click.echo(f"tablet {device_id} {tablet.status.value}; CRL updated: {crl}")
    if reload_command:
        argv = [*shlex.split(reload_command), str(crl)]
        ran = subprocess.run(argv, capture_output=True, text=True, check=False)
        if ran.returncode != 0:
            tail = (ran.stderr or ran.stdout).strip().splitlines()[-1:] or [""]
            raise click.ClickException(
                f"revoked in the estate, but the reload command failed "
                f"({ran.returncode}): {tail[0]}"
            )
        _said(as_json, {**result, "broker": "reloaded by the reload command"},
              "broker reloaded by the reload command")
        return
    _publish(estate, tablet.wing, broker_dir, as_json, result)


def _said(as_json: bool, result: dict[str, object], line: str) -> None:
    click.echo(json.dumps(result, indent=2) if as_json else line)


def _publish(estate: est.Estate, wing: str, broker_dir: Path | None, as_json: bool,
             result: dict[str, object]) -> None:
    """Install the wing's CRL in its broker directory on this machine and reload the broker;
    say what happened (with `result`, one JSON object, when `as_json`)."""
    directory = broker_dir or Path(estate.wing(wing).broker_dir)
    crl_file = estate.broker_material(wing) / "crl.pem"
    if not (directory / "mosquitto.conf").is_file():
        _said(as_json, {**result, "broker": "not installed here", "broker_dir": str(directory)},
              f"no broker installed in {directory} here: copy {crl_file} to the wing host "
              "and reload mosquitto (SIGHUP)")
        return
    pid = est.publish_crl(estate, wing, directory)
    done = {**result, "broker_dir": str(directory), "broker_pid": pid,
            "broker": "reloaded" if pid is not None else "not running"}
    if pid is None:
        _said(as_json, done, f"CRL installed in {directory}; no running broker there to reload")
    else:
        _said(as_json, done, f"CRL installed in {directory}; broker (pid {pid}) reloaded")


@provision.command()
@click.option("--wing", "wing_id", required=True, help="The wing id.")
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A broker directory on this machine to update [the wing's].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@_passphrase_options
@pass_estate
@_one_line_errors
def crl(
    estate: est.Estate, wing_id: str, broker_dir: Path | None, as_json: bool,
    passphrase_file: Path | None
) -> None:
    """Re-sign a wing's CRL before it expires (an expired CRL locks every tablet out)."""
    estate.wing(wing_id)
    passphrase = _passphrase_for(estate, passphrase_file)
    fresh = est.refresh_crl(estate, wing_id, passphrase)
    if not as_json:
        click.echo(f"wing {wing_id} CRL valid until {fresh.next_update_utc:%Y-%m-%d}")
    _publish(estate, wing_id, broker_dir, as_json,
             {"wing": wing_id, "valid_until": fresh.next_update_utc.isoformat()
              if fresh.next_update_utc is not None else None})


@provision.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.option("--wing", "wing_id", help="Only this wing.")
@pass_estate
@_one_line_errors
def inventory(estate: est.Estate, as_json: bool, wing_id: str | None) -> None:
    """List the tablets: status, certificate expiry (flagged within 30 days), who enrolled them."""
    estate.meta()
    if wing_id:
        estate.wing(wing_id)
    now = dt.datetime.now(dt.UTC)
    tablets = estate.inventory.all(wing_id)
    if as_json:
        click.echo(json.dumps([t.as_json(now) for t in tablets], indent=2))
        return
    if not tablets:
        click.echo("no tablets enrolled")
        return
    header = ("TABLET", "WING", "CELL", "STATUS", "CERT EXPIRES", "SERIAL", "ENROLLED")
    rows = [
        (
            t.tablet_id,
            t.wing,
            t.cell,
            t.status.value,
            t.cert_expires[:10] + (" EXPIRING" if t.expiring(now) else ""),
            t.serial or "-",
            f"{t.enrolled_at[:10]} by {t.enrolled_by}",
        )
        for t in tablets
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for wing in [wing_id] if wing_id else estate.wings():
        if est.crl_expiry(estate, wing) - now <= dt.timedelta(days=30):
            click.echo(f"wing {wing} CRL expires within 30 days: run `provision crl`", err=True)
    expiring = sum(t.expiring(now) for t in tablets)
    if expiring:
        click.echo(
            f"{expiring} certificate(s) expire within 30 days: re-enrol those tablets", err=True
        )


@provision.command("install-broker")
@click.option("--wing", "wing_id", required=True, help="The wing id.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Broker directory [the wing's broker_dir].",
)
@click.option("--port", type=click.IntRange(1, 65535), help="Listener port [the wing's].")
@pass_estate
@_one_line_errors
def install_broker(
    estate: est.Estate, wing_id: str, directory: Path | None, port: int | None
) -> None:
    """Install a wing's broker files on this machine (the demo, or the wing host itself)."""
    conf = est.install_broker(estate, wing_id, directory, port)
    click.echo(f"mosquitto -c {conf}")


@provision.command("prison")
@click.option("--prison", "prison_id", required=True, help="Prison id (letters, digits, . _ -).")
@click.option("--wing", "wings", multiple=True, help="A wing to join [every wing of the estate].")
@click.option("--broker-host", default="127.0.0.1", show_default=True, type=HOST,
              help="Address the wing brokers' bridges use to reach the prison broker.")
@click.option("--broker-port", default=8884, show_default=True, type=click.IntRange(1, 65535),
              help="The prison broker's TLS port.")
@click.option("--san", "extra_names", multiple=True, type=HOST,
              help="Another name or IP for the prison broker certificate.")
@click.option("--broker-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the prison broker's files live on its host "
                   "[/etc/cellbridge/prison-broker].")
@_passphrase_options
@pass_estate
@_one_line_errors
def prison(
    estate: est.Estate,
    prison_id: str,
    wings: tuple[str, ...],
    broker_host: str,
    broker_port: int,
    extra_names: tuple[str, ...],
    broker_dir: Path | None,
    passphrase_file: Path | None,
) -> None:
    """Join wings into a prison: prison CA, broker, service key, one bridge per wing."""
    from provisioning import prison as prison_pki

    meta = prison_pki.create_prison(
        estate, prison_id, _passphrase_for(estate, passphrase_file),
        wings=wings or None, broker_host=broker_host, broker_port=broker_port,
        broker_dir=broker_dir, server_names=extra_names,
    )
    material = prison_pki.prison_dir(estate)
    click.echo(f"prison {prison_id!r} created: broker files in {material / 'broker'}, "
               f"service files in {material / 'service'}")
    click.echo(f"bridged wings: {', '.join(meta.wings)} (re-install each wing broker: "
               "`provision install-broker --wing W` adds the bridge section)")

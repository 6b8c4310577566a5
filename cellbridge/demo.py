"""`cellbridge demo` (what `make demo` runs): a whole wing on this machine — broker (mutual TLS,
ACL, CRL from a generated demo estate), gateway, N tablets, the shell of tablet T-0001 in a window
(under Xvfb when there is no display, with a screenshot per state change) — and how to drive it.

Tablet T-0001 runs as its own agent process, exactly as on a tablet; the others are simulated in
this process (real agents, one event loop). Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.resources
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import click
import pyotp

from cellbridge import demo_web
from cellbridge.demo_apps import catalogue_apps, open_repository, release_apps, tablet_updates
from cellbridge.dir_lock import holding
from cellbridge.display import Xvfb
from cellbridge.fleet import fleet, wait_until
from cellbridge.wing import LocalWing
from common.broker import free_port
from common.cli import OneLineGroup
from common.files import socket_listening, write_atomic
from common.text import inert
from device.requests import TYPE_IDS, checked_text, send
from gateway.config import ConsoleConfig
from gateway.policy_file import load_rules
from gateway.repository import RepositoryConfig
from provisioning.estate import CONSOLE_CERT, CONSOLE_KEY
from provisioning.release import EstateRepository, ReleaseError

FIRST = "T-0001"
SOCKETS = Path("tablets") / "sockets.json"
EXAMPLE_POLICY = Path(str(importlib.resources.files("gateway") / "policies" / "example.toml"))


def console_config(material: Path) -> ConsoleConfig | None:
    """The demo's console: this machine only, on a free port, the wing CA's certificate."""
    if not (material / CONSOLE_CERT).exists():
        return None
    return ConsoleConfig(host="127.0.0.1", port=free_port(), cert=material / CONSOLE_CERT,
                         key=material / CONSOLE_KEY)


def _cellbridge(*args: str) -> list[str]:
    return [sys.executable, "-m", "cellbridge", *args]


class Demo:
    def __init__(self, directory: Path, tablets: int, show_shell: bool) -> None:
        self.directory = directory.resolve()
        self.wing = LocalWing(self.directory, tablets)
        self.show_shell = show_shell and importlib.util.find_spec("kivy") is not None
        self.screenshots = self.directory / "screenshots"
        self.agent: subprocess.Popen[bytes] | None = None
        self.shell: subprocess.Popen[bytes] | None = None
        self.xvfb: Xvfb | None = None
        self.served = self.directory / "gateway" / "repository"
        self.releases: EstateRepository | None = None
        self.web: demo_web.DemoWeb | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CELLBRIDGE_GATEWAY_API": str(self.wing.gateway_api)}

    def start(self) -> None:
        broker = self.wing.start_broker()
        click.echo(f"broker    mosquitto on {broker.host}:{broker.port} (mutual TLS), "
                   f"{broker.workdir}")
        self._serve_releases()
        self.wing.console = console_config(self.wing.estate.estate.gateway_material(self.wing.wing))
        self._start_web()
        self.wing.start_gateway()
        click.echo(f"gateway   {self.directory / 'gateway'}  (API {self.wing.gateway_api})")
        if self.wing.console is None:
            click.echo("console   not served: this demo estate has no console certificate "
                       "(remove the demo directory to make a new one)")
        else:
            self._first_admin()
        policy = self.staff("policy", "apply", str(EXAMPLE_POLICY), quiet=True)
        if policy.returncode != 0:
            raise RuntimeError(f"the example policy was refused: {policy.stderr.strip()}")
        click.echo(f"policy    {EXAMPLE_POLICY.name} applied (curfews, profiles, app catalogue)")
        self._release_apps()
        self._grant_web()
        first_config = self.wing.write_agent_config(FIRST)
        log = open(self.directory / "tablets" / FIRST / "agent.log", "ab")  # noqa: SIM115
        # Each child in its own session: Ctrl-C reaches the demo only, which then stops the
        # tablets before the gateway and the broker (no tablet sees its broker vanish).
        self.agent = subprocess.Popen(_cellbridge("agent", "run", "--config", str(first_config)),
                                      stdout=log, stderr=log, start_new_session=True)
        log.close()
        click.echo(f"tablet    {FIRST}: agent process, state in {first_config.parent}")
        if self.show_shell:
            self._start_shell(self.wing.agent_config(FIRST).socket)

    def _serve_releases(self) -> None:
        """The estate's release repository, published to the gateway, which serves it over
        HTTPS (a certificate from the wing CA); T-0001 installs from it."""
        self.releases = open_repository(self.directory / "releases")
        self.releases.publish(self.served)
        tls = self.wing.estate.repository_tls()
        self.wing.repository = RepositoryConfig(dir=self.served, cert=tls.cert, key=tls.key,
                                                host="127.0.0.1", port=free_port())
        self.wing.updates[FIRST] = tablet_updates(
            self.directory / "tablets" / FIRST / "image", self.releases,
            f"https://127.0.0.1:{self.wing.repository.port}",
            self.wing.estate.tablet_tls(FIRST).ca)

    def _release_apps(self) -> None:
        """What IT does for each app the example policy pins: seal, release, publish."""
        assert self.releases is not None, "serve the releases first"
        apps = catalogue_apps(load_rules(EXAMPLE_POLICY)["apps"])
        began = time.monotonic()
        try:
            new = release_apps(self.releases, apps, self.wing.gateway_api, self.served)
        except ReleaseError as exc:
            raise RuntimeError(f"the demo apps could not be released: {exc}") from exc
        done = (f"sealed, released and published in {time.monotonic() - began:.1f} s" if new
                else "released before")
        click.echo(f"apps      {len(apps)} signed apps ({', '.join(a.app for a in apps)}) {done}: "
                   f"{self.releases.dir}, served at {self.wing.updates[FIRST].repository_url}")

    def _start_web(self) -> None:
        """The origins and the gateway's web proxy (Squid), and T-0001's forwarder; or why not."""
        web = demo_web.start(self.directory / "web", self.wing.estate)
        if isinstance(web, str):
            click.echo(f"web       not started: {web}")
            return
        self.web = web
        self.wing.web = web.gateway
        self.wing.web_forwarders[FIRST] = web.forwarder
        click.echo(f"web       Squid behind the gateway's TLS front on 127.0.0.1:{web.gateway.port}"
                   f"; origins {', '.join(demo_web.PAGES)} on {web.address}:443 (their CA: "
                   f"{web.directory / 'origin-ca.pem'})")

    def _grant_web(self) -> None:
        if self.web is None:
            return
        until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        granted = self.staff("web", "grant", "--device", FIRST, "--site", demo_web.GRANTED_SITE,
                             "--purpose", "Job search before release", "--until", until,
                             "--by", "demo", quiet=True)
        if granted.returncode != 0:
            raise RuntimeError(f"the demo's web grant was refused: {granted.stderr.strip()}")
        click.echo(f"          {FIRST} granted {demo_web.GRANTED_SITE} until {until}; its "
                   f"forwarder (the browser's proxy) on 127.0.0.1:{self.web.forwarder.listen_port}")

    def _start_shell(self, socket: Path) -> None:
        env = dict(os.environ)
        if not env.get("DISPLAY"):
            self.xvfb = Xvfb().start()
            env = self.xvfb.environ()
        # This run's screenshots only: a previous run's would be read as this one's.
        shutil.rmtree(self.screenshots, ignore_errors=True)
        self.screenshots.mkdir(parents=True)
        log = open(self.directory / "shell.log", "ab")  # noqa: SIM115
        self.shell = subprocess.Popen(
            _cellbridge("shell", "--socket", str(socket), "--screenshots", str(self.screenshots),
                        "--data-dir", str(self.directory / "shell-data"), "--windowed"),
            stdout=log, stderr=log, env=env, start_new_session=True,
        )
        log.close()
        where = f"Xvfb {self.xvfb.display}" if self.xvfb else f"display {env['DISPLAY']}"
        click.echo(f"shell     {FIRST}'s shell on {where}; screenshots in {self.screenshots}")

    def stop(self) -> None:
        for process in (self.shell, self.agent):
            if process is not None and process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                if process.poll() is None:
                    process.kill()
        if self.xvfb is not None:
            self.xvfb.stop()
        self.wing.stop()
        if self.web is not None:
            self.web.stop()

    def _first_admin(self) -> None:
        """The staff console and its first account, as IT would make it on the gateway host."""
        made = self.staff("account", "add", "admin", "--display", "Demo admin", "--roles",
                          "admin,security,officer", "--json", quiet=True)
        if made.returncode != 0:
            raise RuntimeError(f"the first admin was refused: {made.stderr.strip()}")
        account = json.loads(made.stdout)
        secret = pyotp.parse_uri(account["totp_uri"]).secret
        if self.wing.console is None:
            return
        click.echo(f"console   https://127.0.0.1:{self.wing.console.port}/  (certificate from "
                   "the wing CA: the browser will ask to trust it)")
        click.echo(f"          first admin: {account['name']}, one-time password "
                   f"{account['password']}")
        click.echo(f"          TOTP secret {secret}; a code now: .venv/bin/python -c "
                   f"\"import pyotp; print(pyotp.TOTP('{secret}').now())\"")

    def staff(self, *args: str, quiet: bool = False) -> subprocess.CompletedProcess[str]:
        command = _cellbridge("staff", *args)
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        if not quiet:
            click.echo(f"\n$ cellbridge staff {shlex.join(args)}")
            click.echo((result.stdout + result.stderr).rstrip())
            click.echo(f"(exit {result.returncode})")
        return result

    def instructions(self) -> str:
        web = [] if self.web is None else [
            f"  curl --proxy http://127.0.0.1:{self.web.forwarder.listen_port} --cacert "
            f"{shlex.quote(str(self.web.directory / 'origin-ca.pem'))} "
            "https://findajob.dwp.gov.uk/   (granted; www.gov.uk is refused)",
            f"  .venv/bin/cellbridge staff web list --device {FIRST}",
            f"  .venv/bin/cellbridge staff web log --device {FIRST}",
        ]
        return "\n".join([
            "",
            "The wing is running. From another terminal:",
            f"  export CELLBRIDGE_GATEWAY_API={self.wing.gateway_api}",
            "  .venv/bin/cellbridge staff status",
            "  .venv/bin/cellbridge staff policy curfew status",
            f'  .venv/bin/cellbridge staff lock --device {FIRST} --reason "Cell search" --wait 5',
            f'  .venv/bin/cellbridge staff unlock --device {FIRST} --reason "All clear" --wait 5',
            '  .venv/bin/cellbridge staff lock --wing --reason "Wing lockdown" --wait 10',
            f'  .venv/bin/cellbridge demo request --dir {shlex.quote(str(self.directory))} '
            '--type healthcare "Please may I see the nurse"',
            "  .venv/bin/cellbridge staff requests list",
            "  .venv/bin/cellbridge staff audit --verify",
            *web,
            "Press Ctrl-C to stop everything.",
        ])


async def _serve(demo: Demo, tour: bool) -> int:
    others = [demo.wing.agent_config(t) for t in demo.wing.tablets if t != FIRST]
    # Where each simulated tablet's agent listens, for `demo request --device`.
    write_atomic(demo.directory / SOCKETS, json.dumps(
        {config.device_id: str(config.socket) for config in others}).encode(), 0o644)
    await _first_agent_listening(demo)
    async with fleet(others) as agents:
        await wait_until(lambda: all(a.connected for a in agents), 120)
        click.echo(f"tablets   {len(agents)} more simulated in this process "
                   f"({demo.wing.tablets[1] if agents else '-'}…)")
        if tour:
            return await asyncio.to_thread(_tour, demo)
        click.echo(demo.instructions())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        click.echo("\nstopping…")
        return 0


async def _first_agent_listening(demo: Demo) -> None:
    """Hold "the wing is running" until T-0001's agent answers on its socket: a request
    filed the moment the demo says it is up must not find no agent there."""
    socket = demo.wing.agent_config(FIRST).socket
    agent = demo.agent
    try:
        await wait_until(lambda: socket_listening(socket) or (agent is not None
                                                       and agent.poll() is not None), 60, 0.1)
    except TimeoutError as exc:
        raise RuntimeError(f"{FIRST}'s agent did not open {socket} within 60 s (its log: "
                           f"{demo.directory / 'tablets' / FIRST / 'agent.log'})") from exc
    if agent is not None and agent.poll() is not None:
        raise RuntimeError(f"{FIRST}'s agent stopped (exit {agent.returncode}); its log: "
                           f"{demo.directory / 'tablets' / FIRST / 'agent.log'}")


def _tour(demo: Demo) -> int:
    """Lock and unlock T-0001 with the staff CLI, as an officer would, and show the result;
    then the Requests path: T-0001 files a request, staff list it; then a wing lockdown drill,
    whose lifting only asks for a second person (and this one account cannot approve it)."""
    steps = [
        ("lock", "--device", FIRST, "--reason", "Cell search", "--wait", "10"),
        ("status",),
        ("policy", "curfew", "status"),
        ("unlock", "--device", FIRST, "--reason", "Search over", "--wait", "10"),
    ]
    if not _tour_steps(demo, steps) or not _tour_request(demo):
        return 1
    if not _tour_steps(demo, [("lock", "--wing", "--reason", "Wing lockdown drill", "--wait",
                                "30")]) or not _tour_lift(demo):
        return 1
    if not _tour_steps(demo, [("audit", "--verify")]):
        return 1
    if demo.show_shell:
        shots = sorted(demo.screenshots.glob("*.png"))
        click.echo(f"\n{len(shots)} screenshots in {demo.screenshots}")
    return 0


def _tour_steps(demo: Demo, steps: list[tuple[str, ...]]) -> bool:
    for step in steps:
        if demo.staff(*step).returncode != 0:
            return False
        time.sleep(1.0)  # let the shell draw (and save) each state
    return True


def _tour_lift(demo: Demo) -> bool:
    """Ask to lift the drill's lockdown, then show that the one who asked cannot approve it.
    The wing stays locked down: the demo's tablets show the lock screen until a second OS
    account runs the approval the output names (or approves it in the console)."""
    asked = demo.staff("unlock", "--wing", "--reason", "Drill over")
    found = re.search(r"staff unlock approve (\S+)`", asked.stdout)
    if asked.returncode != 0 or found is None:
        return False
    refused = demo.staff("unlock", "approve", found.group(1))
    return refused.returncode == 2 and "second, different person" in refused.stderr


def _tour_request(demo: Demo) -> bool:
    text = "Please may I see the nurse about my back"
    click.echo(f'\n$ cellbridge demo request --type healthcare "{text}"')
    try:
        saved = file_request(demo.directory, "healthcare", text)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.message}")
        return False
    click.echo(f"request {saved} filed by {FIRST}")
    deadline = time.monotonic() + 30
    while saved not in demo.staff("requests", "list", "--json", quiet=True).stdout:
        if time.monotonic() > deadline:
            click.echo(f"Error: request {saved} did not reach the gateway within 30 s")
            return False
        time.sleep(0.5)
    return demo.staff("requests", "list").returncode == 0


@click.group(cls=OneLineGroup, invoke_without_command=True)
@click.option("--tablets", default=5, show_default=True, type=click.IntRange(1, 5000),
              help="How many tablets: T-0001 as its own agent process, the rest simulated.")
@click.option("--dir", "directory", default="demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where the demo estate, broker, gateway and tablets live.")
@click.option("--shell/--no-shell", "show_shell", default=True, show_default=True,
              help="Show tablet T-0001's shell (needs the `device` extra).")
@click.option("--tour", is_flag=True,
              help="Lock and unlock T-0001 and the wing, file a request, with the staff CLI, "
                   "then stop.")
@click.pass_context
def demo(ctx: click.Context, tablets: int, directory: Path, show_shell: bool,
         tour: bool) -> None:
    """Run a whole wing on this machine: broker, gateway, tablets and a shell.

    One demo per directory: a second one on a directory in use refuses, naming the first's
    process. While it runs, `cellbridge demo request TEXT` files a request as T-0001's shell
    would."""
    if ctx.invoked_subcommand is not None:
        return
    logging_quiet()
    try:
        with holding(directory.resolve()):
            runner = Demo(directory, tablets, show_shell)
            try:
                runner.start()
                code = asyncio.run(_serve(runner, tour))
            finally:
                runner.stop()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@demo.command("request")
@click.option("--dir", "directory", default="demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The running demo's directory.")
@click.option("--device", "device_id", default=FIRST, show_default=True,
              help="Which of the demo's tablets files it (T-0001, or a simulated one).")
@click.option("--type", "type_id", default="general", show_default=True,
              type=click.Choice(sorted(TYPE_IDS)), help="Which form, as chosen on the tablet.")
@click.argument("text")
def request(directory: Path, device_id: str, type_id: str, text: str) -> None:
    """File a request from one of the demo's tablets, as its shell does (through its agent,
    which keeps it and delivers it to the wing); then `cellbridge staff requests list` shows it.

    TEXT is what the prisoner wrote (at most as long as the tablet's form allows)."""
    saved = file_request(directory, type_id, text, device_id)
    click.echo(f"request {saved} filed by {device_id}; staff see it with: "
               "cellbridge staff requests list")


def file_request(directory: Path, type_id: str, text: str, device_id: str = FIRST) -> str:
    """Hand a request to a demo tablet's agent as its shell would; the request's id."""
    socket = _tablet_socket(directory, device_id)
    try:
        checked = checked_text(type_id, text)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    saved = send(socket, type_id, checked)
    if not saved.ok:
        raise click.ClickException(f"{device_id}'s agent did not take the request: "
                                   f"{saved.reason}")
    return saved.id


def _tablet_socket(directory: Path, device_id: str) -> str:
    """Where `device_id`'s agent listens in the demo running in `directory`."""
    config = directory / "tablets" / FIRST / "agent.toml"
    try:
        first = tomllib.loads(config.read_text())["socket"]
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(
            f"no running demo in {directory} ({config} unreadable): start one with "
            f"`cellbridge demo --dir {directory}`") from exc
    if device_id == FIRST:
        return str(first)
    try:
        others: dict[str, str] = json.loads((directory / SOCKETS).read_text())
    except (OSError, ValueError):
        others = {}
    if device_id not in others:
        known = ", ".join([FIRST, *sorted(others)])
        raise click.ClickException(f"the demo in {directory} has no tablet {inert(device_id)!r} "
                                   f"(its tablets: {known})")
    return others[device_id]


def logging_quiet() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

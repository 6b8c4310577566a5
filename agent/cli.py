"""`cellbridge agent run --config FILE`: one agent as a service (systemd on the tablet)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import click

from agent.clock import MonotonicSource, WallSource, boottime
from agent.config import load_config
from agent.enrol_request import enrol_request
from agent.service import Agent
from agent.systemd import Notifier
from common.cli import OneLineGroup
from common.config import ConfigError
from wire.localapi import ShellState


@click.group(cls=OneLineGroup)
def agent() -> None:
    """The on-tablet agent."""


agent.add_command(enrol_request)


@agent.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Agent configuration (TOML).",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="The least serious messages logged (to stderr, i.e. the journal).",
)
def run(config_path: Path, log_level: str) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    serve_agent(config_path, log_level)


def serve_agent(config_path: Path, log_level: str = "INFO", *,
                monotonic: MonotonicSource = boottime, wall: WallSource = time.time) -> None:
    """What `run` does, with the clocks as parameters (tests run it with clocks they move)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        service = Agent(load_config(config_path), clock=lambda: int(wall() * 1000),
                        monotonic=monotonic, wall=wall)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        asyncio.run(_serve(service))
    except OSError as exc:  # e.g. the socket's directory is not writable
        raise click.ClickException(f"agent cannot start: {exc}") from exc


async def _serve(service: Agent) -> None:
    """Run `service` until SIGTERM/SIGINT, telling systemd (when it started us) how it is going."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    notifier = Notifier.take_from_environment()

    def stop() -> None:
        notifier.stopping()
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    shown = [service.connected]

    def on_state(state: ShellState) -> None:
        if state.connected != shown[0]:  # only changes: every lock push is not news to systemd
            shown[0] = state.connected
            notifier.status(_connection_status(state.connected))

    service.add_listener(on_state)
    announcer = asyncio.create_task(_announce(service, notifier))
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await service.run()
    finally:
        announcer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await announcer
        notifier.close()


def _connection_status(connected: bool) -> str:
    return "connected to the wing" if connected else "not connected to the wing"


async def _announce(service: Agent, notifier: Notifier) -> None:
    """READY=1 once the agent serves its state, then the watchdog pings from this loop."""
    await service.ready.wait()
    notifier.ready(_connection_status(service.connected))
    await notifier.keep_alive()

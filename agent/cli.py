"""`cellbridge agent run --config FILE`: one agent as a service (systemd on the tablet)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import click

from agent.clock import wall_ms_from_env
from agent.config import load_config
from agent.service import Agent
from cellbridge.config import ConfigError
from provisioning.csr import enrol_request


@click.group()
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
)
def run(config_path: Path, log_level: str) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        service = Agent(load_config(config_path), clock=wall_ms_from_env())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        asyncio.run(_serve(service))
    except OSError as exc:  # e.g. the socket's directory is not writable
        raise click.ClickException(f"agent cannot start: {exc}") from exc


async def _serve(service: Agent) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await service.run()

"""`cellbridge shell`: the prisoner's Kivy shell; its only input is the agent socket."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import click

_XDG_DATA = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share"))
# Under systemd, StateDirectory=cellbridge-shell gives a persistent, private directory.
DEFAULT_DATA_DIR = Path(os.environ.get("STATE_DIRECTORY", _XDG_DATA / "cellbridge-shell"))


@click.command()
@click.option(
    "--socket",
    "socket_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agent's local API socket.",
)
@click.option(
    "--screenshots",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Save a PNG of the screen after every state change into this directory.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where this tablet keeps lesson progress and display settings.",
)
@click.option("--fullscreen/--windowed", default=True, show_default=True,
              help="Kiosk: fill the screen, no window frame (a window is for the demo).")
def shell(socket_path: Path, screenshots: Path | None, data_dir: Path, fullscreen: bool) -> None:
    """Run the prisoner's shell: home, lock and curfew screens, built-in apps."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot use data directory {data_dir}: {exc.strerror}") from exc
    from device.ui.config import configure, prepare_environment

    prepare_environment(data_dir / "kivy")
    configure(fullscreen=fullscreen)
    from kivy.clock import Clock

    from device.ui.app import ShellApp

    app = ShellApp(socket_path, data_dir, screenshots=screenshots)
    # systemd's stop: leave cleanly (running apps are closed in on_stop). A window-close request
    # from the window manager is a different thing, and the kiosk refuses it.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: Clock.schedule_once(lambda _dt: app.stop()))
    app.run()

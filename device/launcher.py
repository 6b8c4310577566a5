"""Starting allow-listed apps: ask the agent, and only on its yes start the app as a separate
process with a clean environment. No Kivy here.

The agent has checked the app's signed manifest, the hashes of its files on disk and the policy at
this instant; its reply carries the verified command line. The shell adds nothing to it but a
minimal environment (no inherited variables: nothing a prisoner could have planted reaches the
app), its own session (so the whole process group can be stopped), and no inherited descriptors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from device.agent_link import AgentRefused, ask_once
from wire.localapi import LaunchReply, LaunchRequest

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 5.0
STOP_GRACE_S = 3.0
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PASSED_THROUGH = ("DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")
"""What an app needs from the shell's environment to draw on the same screen; nothing else."""


def refusal(app_id: str, reason: str) -> LaunchReply:
    return LaunchReply(app=app_id, ok=False, reason=reason)


def ask_agent(socket_path: Path | str, app_id: str, timeout: float = ASK_TIMEOUT_S) -> LaunchReply:
    """The agent's answer for `app_id`, on a connection of its own. Any failure is a no."""
    try:
        request = LaunchRequest(op="launch", app=app_id)
    except ValueError as exc:
        return refusal(app_id, f"bad app id: {str(exc).splitlines()[0]}")
    try:
        message = ask_once(socket_path, request, LaunchReply, timeout)
    except AgentRefused as exc:
        return refusal(app_id, str(exc))
    if message.app != app_id:
        return refusal(app_id, f"agent answered for another app ({message.app})")
    if message.ok and (not message.argv or not os.path.isabs(message.argv[0])):
        return refusal(app_id, "agent's yes carried no absolute command")
    return message


def clean_environment(parent: Mapping[str, str], home: Path) -> dict[str, str]:
    env = {"PATH": SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8"}
    env.update({key: parent[key] for key in PASSED_THROUGH if key in parent})
    return env


@dataclass
class RunningApp:
    app_id: str
    process: subprocess.Popen[bytes]

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE_S) -> int:
        """SIGTERM to the app's whole process group, SIGKILL after `grace` seconds."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return int(self.process.returncode)


def start(
    reply: LaunchReply, home: Path, parent_env: Mapping[str, str] | None = None
) -> RunningApp:
    """Start the app the agent said yes to; raises ValueError on a no, OSError if it won't run."""
    if not reply.ok or not reply.argv:
        raise ValueError(f"not allowed: {reply.reason}")
    home.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        list(reply.argv),
        env=clean_environment(os.environ if parent_env is None else parent_env, home),
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )
    log.info("started %s (pid %d)", reply.app, process.pid)
    return RunningApp(reply.app, process)

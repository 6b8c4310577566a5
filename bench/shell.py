"""Shell benchmarks, each beside its floor measured in the same run:

- cold start to first frame: `cellbridge shell` vs a bare Kivy app (bench/bare_kivy.py), both
  started as fresh `python -m` processes on the same virtual screen, alternating;
- agent state change → the frame showing it: a real agent and broker, a signed lock published,
  the shell (in-process, event loop stepped as fast as it renders) timed from the moment the
  state line reaches its socket to the first frame drawn after it, and from the MQTT publish;
- the shell's resident memory beside the bare Kivy app's.

    python -m bench.shell [--runs N] [--locks N]    (`run(...)` gives the rows to bench/__main__)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click

from bench.stats import Row, ms, summary
from cellbridge.display import Xvfb

REPO = Path(__file__).resolve().parents[1]
FIRST_FRAME_ENV = "CELLBRIDGE_FIRST_FRAME_FILE"


def run(runs: int = 5, locks: int = 40) -> list[Row]:
    """Every shell row, for `make bench`."""
    return [*cold_start(runs), *state_to_frame(locks)]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _start_to_first_frame(argv: list[str], env: dict[str, str], work: Path) -> tuple[float, int]:
    """Seconds from spawn to the first frame, and the RSS (KiB) once settled."""
    marker = work / "first-frame"
    marker.unlink(missing_ok=True)
    env = {**env, FIRST_FRAME_ENV: str(marker)}
    started = time.time()
    process = subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text().strip():
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv}: no first frame in 60 s")
            time.sleep(0.005)
        first_frame = float(marker.read_text())
        time.sleep(1.0)  # let it settle before measuring memory
        rss = _rss_kib(process.pid)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return first_frame - started, rss


def cold_start(runs: int) -> list[Row]:
    rows: list[Row] = []
    xvfb = Xvfb().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-shell-") as tmp:
            work = Path(tmp)
            env = {
                **os.environ,
                "DISPLAY": xvfb.display,
                "KIVY_NO_CONSOLELOG": "1",
                "KIVY_NO_FILELOG": "1",
                "PYTHONPATH": str(REPO),
            }
            shell_argv = [
                sys.executable,
                "-m",
                "cellbridge",
                "shell",
                "--windowed",
                "--socket",
                str(work / "no-agent.sock"),
                "--data-dir",
                str(work / "data"),
            ]
            bare_argv = [sys.executable, "-m", "bench.bare_kivy"]
            shell_times, bare_times, shell_rss, bare_rss = [], [], [], []
            _start_to_first_frame(bare_argv, env, work)  # warm the page cache for both
            _start_to_first_frame(shell_argv, env, work)
            for _ in range(runs):
                seconds, rss = _start_to_first_frame(bare_argv, env, work)
                bare_times.append(seconds)
                bare_rss.append(rss)
                seconds, rss = _start_to_first_frame(shell_argv, env, work)
                shell_times.append(seconds)
                shell_rss.append(rss)
    finally:
        xvfb.stop()
    shell_p50 = summary(shell_times)[0]
    bare_p50 = summary(bare_times)[0]
    rows.append(
        Row(
            "shell cold start",
            f"spawn → first frame, p50 of {runs}",
            ms(shell_p50),
            f"bare Kivy app {ms(bare_p50)}",
            f"{shell_p50 / bare_p50:.2f}×",
            "≤ 1.5×",
        )
    )
    shell_mib = max(shell_rss) / 1024
    bare_mib = max(bare_rss) / 1024
    rows.append(
        Row(
            "shell memory",
            "RSS after first frame (max)",
            f"{shell_mib:.0f} MiB",
            f"bare Kivy app {bare_mib:.0f} MiB",
            f"{shell_mib / bare_mib:.2f}×",
            "—",
        )
    )
    return rows


def state_to_frame(locks: int) -> list[Row]:
    """Lock/unlock published as signed `desired` documents to a real agent on a real broker; the
    shell runs in this process (its event loop stepped at its normal frame rate)."""
    from common.broker import Mosquitto
    from tests.support.agents import AgentProcess, Probe, TestSigner, write_agent_config
    from wire.topics import TabletChannel, tablet

    publish_to_frame, push_to_frame, publish_to_push = [], [], []
    xvfb = Xvfb().start()
    with tempfile.TemporaryDirectory(prefix="bench-shell-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "broker").start()
        signer = TestSigner()
        config = write_agent_config(
            work / "agent",
            device_id="t1",
            wing="A",
            broker_host=broker.host,
            broker_port=broker.port,
            gateway_keys=[signer.write_public_key(work / "gw.pem")],
        )
        agent = AgentProcess(config).start()
        probe = Probe(broker.host, broker.port)
        try:
            agent.wait_connected()
            os.environ["DISPLAY"] = xvfb.display
            from device.ui.config import configure, prepare_environment

            os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
            prepare_environment(work / "kivy")
            configure(fullscreen=False)
            from kivy.base import EventLoop

            from device.ui.app import ShellApp

            EventLoop.ensure_window()
            EventLoop.start()
            app = ShellApp(agent.socket_path, work / "shell")
            app._run_prepare()

            def step_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
                deadline = time.monotonic() + timeout
                while not done():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the shell never showed the state")
                    EventLoop.idle()

            # Registered on the wing: the gateway's first desired state unlocks the tablet.
            probe.publish(tablet("t1", TabletChannel.DESIRED), signer.seal(signer.first("t1")))
            step_until(
                lambda: (
                    app.agent_reachable
                    and not app._prebuild
                    and app.shell_state is not None
                    and not app.shell_state.locked
                )
            )
            for version in range(2, locks + 2):
                locked = version % 2 == 0
                document = signer.desired("t1", version, locked=locked, reason=f"bench {version}")
                sealed = signer.seal(document)
                step_until(lambda: app.frames_after_state >= 2)  # idle before each change
                published = time.monotonic()
                probe.publish(tablet("t1", TabletChannel.DESIRED), sealed)

                def shown(want: bool = locked) -> bool:
                    state = app.shell_state
                    return (
                        state is not None and state.locked is want and app.frames_after_state >= 1
                    )

                step_until(shown)
                publish_to_frame.append(app.last_state_frame_monotonic - published)
                push_to_frame.append(app.last_state_frame_monotonic - app.last_state_monotonic)
                publish_to_push.append(app.last_state_monotonic - published)
            app.dispatch("on_stop")
        finally:
            probe.close()
            agent.kill()
            broker.kill()
            xvfb.stop()
    p50, p99, _ = summary(push_to_frame)
    e2e50, e2e99, _ = summary(publish_to_frame)
    floor50, _, _ = summary(publish_to_push)
    return [
        Row(
            "shell state → frame",
            f"agent push received → first frame showing it, p50/p99 of {locks}",
            f"{ms(p50)} / {ms(p99)}",
            "one frame at 60 fps: 16.7 ms",
            f"{p50 / (1 / 60):.2f}×",
            "≤ 200 ms",
        ),
        Row(
            "lock → screen",
            f"signed desired published → lock frame, p50/p99 of {locks}",
            f"{ms(e2e50)} / {ms(e2e99)}",
            f"publish → agent push {ms(floor50)}",
            f"{e2e50 / floor50:.2f}×" if floor50 > 0 else "—",
            "≤ 200 ms",
        ),
    ]


@click.command()
@click.option("--runs", default=5, show_default=True, help="Cold starts of each app.")
@click.option("--locks", default=40, show_default=True, help="Lock/unlock changes to time.")
def main(runs: int, locks: int) -> None:
    from bench.stats import markdown

    click.echo(markdown(run(runs, locks)))


if __name__ == "__main__":
    main()

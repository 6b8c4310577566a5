"""Shell benchmarks, each beside its floor measured in the same run:

- cold start to first frame: `cellbridge shell` vs a bare Kivy app (bench/bare_kivy.py), both
  started as fresh `python -m` processes on the same virtual screen, alternating;
- agent state change → the frame showing it: a real agent and broker, a signed lock published,
  the shell (in-process, event loop stepped as fast as it renders) timed from the moment the
  state line reaches its socket to the first frame drawn after it, and from the MQTT publish;
- the shell's resident memory beside the bare Kivy app's.

    python -m bench.shell [--runs N] [--locks N]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from bench.stats import Row, ms, summary
from cellbridge.display import Xvfb

REPO = Path(__file__).resolve().parents[1]
FIRST_FRAME_ENV = "CELLBRIDGE_FIRST_FRAME_FILE"


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


@click.command()
@click.option("--runs", default=5, show_default=True, help="Cold starts of each app.")
def main(runs: int) -> None:
    from bench.stats import markdown

    click.echo(markdown(cold_start(runs)))


if __name__ == "__main__":
    main()

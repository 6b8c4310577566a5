"""What an idle tablet costs: the agent's and the shell's resident memory, CPU seconds per hour and
wake-ups per minute while nothing happens but the wing's time beacon (every 30 s).

One wing (broker, gateway as `cellbridge gateway run`, mutual TLS), one tablet: `cellbridge agent
run` and `cellbridge shell` as their own processes (the shell on a virtual screen, windowed),
each measured from /proc over `--seconds` once settled, and scaled to an hour / a minute.
Wake-ups are the voluntary context switches of all the process's threads (each is a sleep that
ended: a timer, a packet, a frame). The floor is a bare Kivy app (bench/bare_kivy.py) idling on
the same screen for the same time, and for the agent an idle `python -c` sleeping in
`asyncio` (what any Python service costs to just be there), the same after `import aiomqtt,
cryptography, pydantic` (the libraries the agent cannot do without), and after also using what
of them an idle agent uses (Ed25519, a TLS context, a pydantic model).

    python -m bench.idle [--seconds 180]
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click

from bench.stats import Row
from cellbridge.display import Xvfb
from cellbridge.wing import LocalWing

REPO = Path(__file__).resolve().parents[1]
TARGET_AGENT_RSS_MIB = 40
TARGET_AGENT_CPU_S_PER_H = 10
SETTLE_S = 20.0
IDLE_PYTHON = "import asyncio\nasyncio.run(asyncio.sleep(10**9))"
IMPORT_FLOOR = "import aiomqtt, cryptography, pydantic"
"""The agent's floor at idle: the three libraries it cannot run without, imported, idling."""
NEEDED_FLOOR = ("from cryptography.hazmat.primitives.asymmetric import ed25519\n"
                "import ssl\nssl.create_default_context()\n"
                "class M(pydantic.BaseModel):\n    x: int\n")
"""... and what of them an idle agent does use: cryptography's native part (Ed25519 checks),
a TLS context with the CA store, a pydantic model built."""


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    wakeups: int
    rss_kib: int


def sample(pid: int) -> Sample:
    """CPU seconds (user+system, all threads), voluntary switches of all threads, RSS."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    wakeups = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    wakeups += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return Sample(cpu, wakeups, rss)


@dataclass(frozen=True)
class Idle:
    rss_mib: float
    cpu_s_per_h: float
    wakeups_per_min: float


def measure(pids: dict[str, int], seconds: float) -> dict[str, Idle]:
    """Every process in `pids` over the same `seconds`."""
    before = {name: sample(pid) for name, pid in pids.items()}
    started = time.monotonic()
    peak = {name: s.rss_kib for name, s in before.items()}
    while time.monotonic() - started < seconds:
        time.sleep(min(5.0, seconds))
        for name, pid in pids.items():
            peak[name] = max(peak[name], sample(pid).rss_kib)
    elapsed = time.monotonic() - started
    after = {name: sample(pid) for name, pid in pids.items()}
    return {
        name: Idle(peak[name] / 1024, (after[name].cpu_s - before[name].cpu_s) * 3600 / elapsed,
                   (after[name].wakeups - before[name].wakeups) * 60 / elapsed)
        for name in pids
    }


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=out,
                                start_new_session=True)


def run(seconds: float = 180.0) -> list[Row]:
    root = Path(tempfile.mkdtemp(prefix="cellbridge-idle-"))
    wing = LocalWing(root / "wing", 1, tls=True)
    xvfb = Xvfb().start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        wing.start_broker()
        wing.start_gateway()
        tablet = wing.tablets[0]
        config = wing.write_agent_config(tablet)
        env = {**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": xvfb.display,
               "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1"}
        python = sys.executable
        agent = _spawn([python, "-m", "cellbridge", "agent", "run", "--config", str(config)],
                       env, root / "agent.log")
        socket = wing.agent_config(tablet).socket
        shell = _spawn([python, "-m", "cellbridge", "shell", "--windowed", "--socket",
                        str(socket), "--data-dir", str(root / "shell-data")], env,
                       root / "shell.log")
        bare = _spawn([python, "-m", "bench.bare_kivy"], env, root / "bare.log")
        idle_python = _spawn([python, "-c", IDLE_PYTHON], env, root / "python.log")
        imports = _spawn([python, "-c", f"{IMPORT_FLOOR}\n{IDLE_PYTHON}"], env,
                         root / "imports.log")
        needed = _spawn([python, "-c", f"{IMPORT_FLOOR}\n{NEEDED_FLOOR}{IDLE_PYTHON}"], env,
                        root / "needed.log")
        processes = [agent, shell, bare, idle_python, imports, needed]
        time.sleep(SETTLE_S)
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited: see {root}")
        load = os.getloadavg()[0]
        found = measure({"agent": agent.pid, "shell": shell.pid, "bare": bare.pid,
                         "python": idle_python.pid, "imports": imports.pid,
                         "needed": needed.pid}, seconds)
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        xvfb.stop()
        wing.stop()
        shutil.rmtree(root, ignore_errors=True)
    a, s, b, p = found["agent"], found["shell"], found["bare"], found["python"]
    i, n = found["imports"], found["needed"]
    span = f"idle {seconds:.0f} s, beacon every 30 s, load {load:.1f}–{os.getloadavg()[0]:.1f}"
    return [
        Row("tablet idle: agent", f"RSS (peak, {span})", f"{a.rss_mib:.1f} MiB",
            f"idle asyncio python {p.rss_mib:.1f} MiB", f"{a.rss_mib / p.rss_mib:.2f}×",
            f"≤ {TARGET_AGENT_RSS_MIB} MiB"),
        Row("tablet idle: agent", "RSS (peak)", f"{a.rss_mib:.1f} MiB",
            f"`{IMPORT_FLOOR}`, idling: {i.rss_mib:.1f} MiB", f"{a.rss_mib / i.rss_mib:.2f}×",
            ""),
        Row("tablet idle: agent", "RSS (peak)", f"{a.rss_mib:.1f} MiB",
            f"the same + Ed25519, a TLS context, a model: {n.rss_mib:.1f} MiB",
            f"{a.rss_mib / n.rss_mib:.2f}×", ""),
        Row("tablet idle: agent", "CPU seconds per hour", f"{a.cpu_s_per_h:.1f} s/h",
            f"idle asyncio python {p.cpu_s_per_h:.1f} s/h", "-",
            f"≤ {TARGET_AGENT_CPU_S_PER_H} s/h"),
        Row("tablet idle: agent", "wake-ups per minute", f"{a.wakeups_per_min:.0f}/min",
            f"idle asyncio python {p.wakeups_per_min:.0f}/min", "-", ""),
        Row("tablet idle: shell", "RSS (peak)", f"{s.rss_mib:.0f} MiB",
            f"bare Kivy app {b.rss_mib:.0f} MiB", f"{s.rss_mib / b.rss_mib:.2f}×", ""),
        Row("tablet idle: shell", "CPU seconds per hour", f"{s.cpu_s_per_h:.0f} s/h",
            f"bare Kivy app {b.cpu_s_per_h:.0f} s/h",
            f"{s.cpu_s_per_h / b.cpu_s_per_h:.2f}×" if b.cpu_s_per_h else "-", ""),
        Row("tablet idle: shell", "wake-ups per minute", f"{s.wakeups_per_min:.0f}/min",
            f"bare Kivy app {b.wakeups_per_min:.0f}/min",
            f"{s.wakeups_per_min / b.wakeups_per_min:.2f}×" if b.wakeups_per_min else "-", ""),
    ]


@click.command()
@click.option("--seconds", default=180.0, show_default=True,
              help="How long to measure once settled (2–5 minutes; scaled to an hour).")
def main(seconds: float) -> None:
    """Print the idle-cost rows."""
    from bench.stats import markdown

    click.echo(markdown(run(seconds)))


if __name__ == "__main__":
    main()

"""Simulated tablets over several processes: `cellbridge.fleet` in each, a share of the wing's
agents apiece. On a loaded machine one process's event loop cannot bring 2,000 agents up (each
TLS handshake and subscription waits behind all the others); several loops, each with a few
hundred, can. Every agent is still a real `Agent` that verifies, applies and reports what the
gateway signs, so a lock is confirmed by the gateway exactly as with one process.

The parent gives each child a pickled list of resolved `AgentConfig`s; the child runs them until
it is terminated. Readiness is judged at the gateway (`GET /v1/tablets`: every tablet online,
unlocked and in sync), the same view the console and the CLI confirm by.
"""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from agent.config import AgentConfig


def start_pool(configs: Sequence[AgentConfig], processes: int, directory: Path
               ) -> list[subprocess.Popen[bytes]]:
    """Start `processes` children, each running every `processes`-th config."""
    children = []
    for index in range(processes):
        share = list(configs[index::processes])
        if not share:
            continue
        path = directory / f"agents-{index}.pickle"
        path.write_bytes(pickle.dumps(share))
        children.append(subprocess.Popen([sys.executable, "-m", "bench.agent_pool", str(path)],
                                         stdout=subprocess.DEVNULL))
    return children


def stop_pool(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def wait_ready(api: httpx.AsyncClient, tablets: int, timeout: float,
                     children: Sequence[subprocess.Popen[bytes]]) -> float:
    """Until the gateway sees every tablet online, unlocked and in sync; the seconds it took."""
    started = time.monotonic()
    while True:
        dead = [c.pid for c in children if c.poll() is not None]
        if dead:
            raise RuntimeError(f"agent pool processes {dead} ended")
        views: list[dict[str, Any]] = (await api.get("/v1/tablets")).json()
        ready = sum(1 for v in views if v["online"] and v["locked"] is False and v["in_sync"])
        if ready >= tablets:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {ready} of {tablets} tablets ready after {timeout:.0f} s")
        await asyncio.sleep(2)


async def _run(configs: list[AgentConfig]) -> None:
    from cellbridge.fleet import fleet, settle, wait_until

    async with fleet(configs) as agents:
        await wait_until(lambda: all(a.connected for a in agents), 1800, interval=0.5)
        settle()
        await asyncio.Event().wait()  # until terminated


def main() -> None:
    configs: list[AgentConfig] = pickle.loads(Path(sys.argv[1]).read_bytes())
    asyncio.run(_run(configs))


if __name__ == "__main__":
    main()

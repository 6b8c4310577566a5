"""Simulated tablets in child processes: each child runs a group of real `Agent`s
(`cellbridge.fleet`) on an event loop and heap of its own.

A real tablet has its own CPU: when the 30 s time beacon reaches a wing, 2,000 tablets check it
at the same time, each once. In one process the same 2,000 checks run one after another on one
loop, and a lock sent to any of those tablets waits behind them all (a stall of 0.4–1.4 s at
every beacon, found with `bench.stalls`): the simulation, not the lock path. So the
single-tablet lock samples go to a few probe tablets in a child of their own; they still share
the machine's cores with the wing, the broker and the gateway, but not a loop. The rest of the
wing runs in a few more children: 2,000 agents in one process need more descriptors (MQTT,
the shell's socket, three SQLite stores with their WAL) than this machine's hard limit allows.

Run as `python -m bench.probe`: reads one JSON list of `AgentConfig`s (as their files say them,
unresolved) on stdin, prints `ready` once every tablet is connected and unlocked, and stops
when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from agent.config import AgentConfig, apply_enrolment
from cellbridge.fleet import fleet, settle, wait_until

READY = b"ready\n"
READY_TIMEOUT_S = 900.0
STORE_WORKERS = 64
"""Worker threads for the agents' store writes (each real tablet writes its own flash)."""


async def _serve(configs: list[AgentConfig]) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=STORE_WORKERS))
    async with fleet(configs) as agents:
        await wait_until(lambda: all(a.connected and not a.state.locked for a in agents),
                         READY_TIMEOUT_S)
        settle()
        sys.stdout.buffer.write(READY)
        sys.stdout.buffer.flush()
        await loop.run_in_executor(None, sys.stdin.buffer.read)  # until the parent closes it


def main() -> None:
    configs = [apply_enrolment(AgentConfig.model_validate(c))
               for c in json.loads(sys.stdin.buffer.readline())]
    asyncio.run(_serve(configs))


def split(items: Sequence[AgentConfig], groups: int) -> list[list[AgentConfig]]:
    """`items` in `groups` groups of nearly equal size (none empty)."""
    groups = max(1, min(groups, len(items)))
    return [list(items[index::groups]) for index in range(groups)]


@contextlib.asynccontextmanager
async def probes(*groups: Sequence[AgentConfig]) -> AsyncIterator[None]:
    """Run each group of `configs` (unresolved: `LocalWing.agent_config(t, resolved=False)`)
    as tablets in a child process of its own until the block ends; ready when all are."""
    children: list[asyncio.subprocess.Process] = []
    try:
        for group in groups:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.probe", stdin=subprocess.PIPE,
                stdout=subprocess.PIPE)
            children.append(child)
            assert child.stdin is not None
            child.stdin.write(json.dumps([c.model_dump(mode="json") for c in group]).encode()
                              + b"\n")
            await child.stdin.drain()
        lines = await asyncio.wait_for(asyncio.gather(*(
            c.stdout.readline() for c in children if c.stdout is not None)), READY_TIMEOUT_S)
        if any(line != READY for line in lines):
            raise RuntimeError("simulated tablets did not start: see the log above")
        yield
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), 60)
            except TimeoutError:
                child.kill()
                await child.wait()


if __name__ == "__main__":
    main()

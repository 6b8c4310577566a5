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
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.config import AgentConfig, apply_enrolment
from cellbridge.fleet import fleet, settle, wait_until

READY = b"ready\n"
READY_TIMEOUT_S = 900.0
PATIENT_TIMEOUT_S = 120.0
STORE_WORKERS = 64
"""Worker threads for the agents' store writes (each real tablet writes its own flash)."""


async def _serve(configs: list[AgentConfig]) -> None:
    loop = asyncio.get_running_loop()
    # Until the parent closes stdin (or is gone), even before every tablet is ready.
    parent = loop.run_in_executor(None, sys.stdin.buffer.read)
    loop.set_default_executor(ThreadPoolExecutor(max_workers=STORE_WORKERS))
    async with fleet(configs) as agents:
        ready = asyncio.ensure_future(wait_until(
            lambda: all(a.connected and not a.state.locked for a in agents), READY_TIMEOUT_S))
        await asyncio.wait([parent, ready], return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            ready.result()
            settle()
            sys.stdout.buffer.write(READY)
            sys.stdout.buffer.flush()
            await parent
        ready.cancel()


def main() -> None:
    if len(sys.argv) > 1:
        os.nice(int(sys.argv[1]))
    configs = [apply_enrolment(AgentConfig.model_validate(c))
               for c in json.loads(sys.stdin.buffer.readline())]
    asyncio.run(_serve(configs))


def patient(config: AgentConfig) -> AgentConfig:
    """A simulated tablet's patience: a real tablet has a CPU of its own, a simulated one waits
    behind hundreds of others on this machine's two cores, and at the product's 10 s its connect
    or subscribe times out, reconnects and joins the queue again (the bring-up never settled at
    load 15-20). A tablet given this finishes the connect it started, as one with its own CPU
    would: where a bench measures from a wing already up (console, lock) it changes only the
    bring-up; in the storm it keeps starved tablets from abandoning their reconnects."""
    broker = config.broker.model_copy(update={"timeout_s": PATIENT_TIMEOUT_S})
    return config.model_copy(update={"broker": broker})


def split(items: Sequence[AgentConfig], groups: int) -> list[list[AgentConfig]]:
    """`items` in `groups` groups of nearly equal size (none empty)."""
    groups = max(1, min(groups, len(items)))
    return [list(items[index::groups]) for index in range(groups)]


@contextlib.asynccontextmanager
async def probes(*groups: Sequence[AgentConfig], nice: int = 0) -> AsyncIterator[list[int]]:
    """Run each group of `configs` (unresolved: `LocalWing.agent_config(t, resolved=False)`)
    as tablets in a child process of its own until the block ends; ready when all are.
    `nice`: the children's niceness (the rest of a wing: its CPU is not the probes'). Yields
    the children's process ids (`renice`)."""
    children: list[asyncio.subprocess.Process] = []
    try:
        for group in groups:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.probe", str(nice), stdin=subprocess.PIPE,
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
        yield [child.pid for child in children]
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


def renice(pids: Sequence[int], nice: int) -> None:
    """Set every thread of `pids` to `nice` (Linux: a niceness is per thread)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


if __name__ == "__main__":
    main()

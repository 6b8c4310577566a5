"""Probe tablets: a few simulated tablets on an event loop and heap of their own (a child
process), beside the rest of the wing in the benchmark's process.

A real tablet has its own CPU: when the 30 s time beacon reaches a wing, 2,000 tablets check it
at the same time, each once. In one process the same 2,000 checks run one after another on one
loop, and a lock sent to any of those tablets waits behind them all (a stall of 0.4–1.4 s at
every beacon, found with `bench.stalls`), which is the simulation, not the lock path. The
single-tablet lock samples go to probe tablets instead: they still share the machine's cores
with the wing, the broker and the gateway, but not a loop.

Run as `python -m bench.probe`: reads one JSON list of `AgentConfig`s on stdin, prints `ready`
once every tablet is connected and unlocked, and stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

from agent.config import AgentConfig, apply_enrolment
from cellbridge.fleet import fleet, settle, wait_until

READY = b"ready\n"
READY_TIMEOUT_S = 300.0


async def _serve(configs: list[AgentConfig]) -> None:
    loop = asyncio.get_running_loop()
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


@contextlib.asynccontextmanager
async def probes(configs: Sequence[AgentConfig]) -> AsyncIterator[None]:
    """Run `configs` (as their files say them: unresolved, `LocalWing.agent_config(t,
    resolved=False)`) as tablets in a child process until the block ends."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.probe", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps([c.model_dump(mode="json") for c in configs]).encode()
                          + b"\n")
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), READY_TIMEOUT_S)
        if line != READY:
            raise RuntimeError(f"probe tablets did not start (exit {child.returncode})")
        yield
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 30)
        except TimeoutError:
            child.kill()
            await child.wait()


if __name__ == "__main__":
    main()

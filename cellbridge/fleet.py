"""Many simulated tablets in one process: real `Agent`s, each with its own state and socket, on
one event loop (the demo's tablets, the benchmarks' wing)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import AsyncIterator, Callable, Sequence

from agent.config import AgentConfig
from agent.service import Agent, load_trusted_keys

FDS_PER_AGENT = 8


def raise_open_file_limit(agents: int) -> None:
    """Each agent holds a few descriptors (MQTT, socket, SQLite and its WAL): lift the soft
    limit towards the hard one, and say so when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = agents * FDS_PER_AGENT + 256
    if soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        if new_soft < wanted:
            raise RuntimeError(f"open-file limit {hard} too low for {agents} tablets")


@contextlib.asynccontextmanager
async def fleet(configs: Sequence[AgentConfig]) -> AsyncIterator[list[Agent]]:
    """Run one `Agent` per config until the block ends. All trust the same gateway keys, loaded
    once."""
    raise_open_file_limit(len(configs))
    keys = load_trusted_keys(configs[0]) if configs else {}
    agents = [Agent(config, trusted_keys=keys) for config in configs]
    tasks = [asyncio.create_task(agent.run(), name=agent.config.device_id) for agent in agents]
    try:
        yield agents
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.05
) -> None:
    """Poll `condition()` on the loop until true; TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(interval)

"""Many simulated tablets in one process: real `Agent`s, each with its own state and socket, on
one event loop (the demo's tablets, the benchmarks' wing).

Two things a wing of real tablets does not have, because each tablet has its own CPU and heap,
are undone here (found with py-spy and `bench.stalls` on the lock benchmark):
- every wing-wide document (the 30 s time beacon, a lockdown, a policy) would be checked 2,000
  times in a row on one core — an Ed25519 check is ~75% of an agent's handling of a beacon — so
  the in-process tablets share one check of the byte-identical envelope (`SharedCheck`): what
  real tablets do at the same time, in parallel, each once;
- 2,000 agents make one heap of millions of objects that every full garbage collection walks
  (pauses of a second or more at random moments): once they are up, `settle()` moves them to
  the collector's permanent generation (`gc.freeze`), so a collection walks what is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config import AgentConfig
from agent.service import Agent, load_trusted_keys

FDS_PER_AGENT = 8
SHARED_CHECKS = 64
"""Distinct (signature, body) pairs remembered: a wing has a handful of live documents."""


class SharedCheck(Ed25519PublicKey):
    """A gateway key whose successful checks the in-process tablets share: a signature that
    verified over the same bytes is not checked again. A failed check is never remembered."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self._passed: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()

    def verify(self, signature: bytes | bytearray | memoryview,
               data: bytes | bytearray | memoryview) -> None:
        pair = (bytes(signature), bytes(data))
        if pair in self._passed:
            self._passed.move_to_end(pair)
            return
        self._key.verify(signature, data)  # raises InvalidSignature
        self._passed[pair] = None
        if len(self._passed) > SHARED_CHECKS:
            self._passed.popitem(last=False)

    def public_bytes(self, encoding: serialization.Encoding,
                     format: serialization.PublicFormat) -> bytes:
        return self._key.public_bytes(encoding, format)

    def public_bytes_raw(self) -> bytes:
        return self._key.public_bytes_raw()

    def __eq__(self, other: object) -> bool:
        return self._key == (other._key if isinstance(other, SharedCheck) else other)

    def __hash__(self) -> int:
        return hash(self._key.public_bytes_raw())

    def __copy__(self) -> SharedCheck:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedCheck:
        return self


def settle() -> None:
    """The fleet is up: collect once, then keep what exists out of every later collection."""
    gc.collect()
    gc.freeze()


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
    """Run one `Agent` per config until the block ends. The tablets of one wing trust the same
    gateway keys, loaded once per wing (from its first config), and share their checks
    (`SharedCheck`); tablets of several wings may run together."""
    raise_open_file_limit(len(configs))
    by_wing: dict[str, dict[str, Ed25519PublicKey]] = {}
    agents = []
    for config in configs:
        keys = by_wing.get(config.wing)
        if keys is None:
            keys = by_wing[config.wing] = {
                kid: SharedCheck(key) for kid, key in load_trusted_keys(config).items()}
        agents.append(Agent(config, trusted_keys=keys))
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

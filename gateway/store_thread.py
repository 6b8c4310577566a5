"""The one worker thread that runs the gateway's store calls, in the order they were asked.

A store write ends in an fsync (synchronous=FULL); on the event loop it would stall every tablet's
messages for as long. One thread, not a pool: the audit chain and the record are written in the
order the gateway decided them, and a read asked after a write sees it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-store")

    async def __call__(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `call(*args, **kwargs)` on the store's thread and return what it returns."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args, **kwargs))

    def close(self) -> None:
        """Wait for the calls already asked, then stop the thread."""
        self._pool.shutdown(wait=True)

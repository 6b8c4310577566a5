"""The prison console's `PrisonConsole`: what its pages are handed. It keeps its own connection
to the prison store (as the CLI does; the service keeps its own), used by one worker thread at a
time, so a page never blocks the service's event loop nor shares its transactions."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import HTTPException, Request

from common.staff_web.accounts import AccountBook
from common.staff_web.roles import Role
from common.staff_web.sessions import Sessions
from prison.config import PrisonConfig
from prison.console.rights import Right, rights_of
from prison.store import PrisonStore, StoreError

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PrisonConsole:
    config: PrisonConfig
    store: PrisonStore
    key: Ed25519PrivateKey
    """The prison's signing key: a lockdown from the console is signed as one from the CLI."""
    book: AccountBook
    sessions: Sessions
    clock: Callable[[], int]
    worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="prison-console"))

    def rights_of(self, roles: Iterable[Role]) -> frozenset[Right]:
        return rights_of(roles)

    async def io(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store or accounts call on the console's one store thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.worker,
                                              functools.partial(call, *args, **kwargs))
        except StoreError as exc:  # nothing recorded: say so, as the CLI does
            raise HTTPException(503, f"the prison store is unavailable, nothing was recorded: "
                                f"{exc}") from exc

    def close(self) -> None:
        self.worker.shutdown(wait=True)
        self.store.close()


def console_of(request: Request) -> PrisonConsole:
    console: PrisonConsole = request.app.state.console
    return console

"""The agent's link to the shell: the state it shows, pushed over the local socket on every
change, and to whoever else listens (systemd's status line).

Whatever goes wrong computing the state, the shell is shown the lock (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agent.config import AgentConfig
from agent.localapi import LocalApi
from wire.localapi import (
    LaunchReply,
    LaunchRequest,
    RequestSaved,
    ShellState,
    SubmitRequest,
    WebOpenRequest,
    failsafe_state,
)

log = logging.getLogger(__name__)


class ShellLink:
    def __init__(
        self,
        config: AgentConfig,
        *,
        compose: Callable[[], ShellState],
        connected: Callable[[], bool],
        launch: Callable[[LaunchRequest | WebOpenRequest], Awaitable[LaunchReply]],
        submit: Callable[[SubmitRequest], Awaitable[RequestSaved]],
    ) -> None:
        """`compose` computes a new state from what the agent knows; `launch` and `submit`
        answer the shell's requests on the socket."""
        self._device = config.device_id
        self._compose = compose
        self._connected = connected
        self._state = failsafe_state(self._device, "agent starting")
        self._listeners: list[Callable[[ShellState], None]] = []
        self.api = LocalApi(config.socket, config.socket_mode, lambda: self._state,
                            launch=launch, submit=submit)

    @property
    def state(self) -> ShellState:
        return self._state

    @property
    def watchers(self) -> int:
        return self.api.watchers

    def add_listener(self, callback: Callable[[ShellState], None]) -> None:
        self._listeners.append(callback)

    def refresh(self) -> None:
        """Compute the state; push it if it changed (the trusted time alone is no change)."""
        try:
            state = self._compose()
        except Exception as exc:  # whatever went wrong, the shell shows the lock (fail closed)
            log.exception("%s: cannot compute the state; failing closed", self._device)
            state = failsafe_state(
                self._device, f"internal error: {type(exc).__name__}"
            ).model_copy(update={"connected": self._connected()})
        if state.model_copy(update={"trusted_time": None}) == self._state.model_copy(
            update={"trusted_time": None}
        ):
            return
        self._state = state
        self.api.publish(state)
        for callback in self._listeners:
            try:
                callback(state)
            except Exception:  # an observer's bug must not stop enforcement
                log.exception("%s: state listener failed", self._device)

    async def start(self) -> None:
        await self.api.start()

    async def close(self) -> None:
        await self.api.close()

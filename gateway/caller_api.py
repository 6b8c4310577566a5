"""Who is calling the control API: the OS account on the other end of its Unix socket.

`--by` is whatever a caller types; the kernel's `SO_PEERCRED` is not. uvicorn serves the API with
`PeerCredentialsProtocol`, which reads the connecting process's credentials once per connection
and hands them to the app in the ASGI scope (`scope["extensions"][PEER_EXTENSION]`). The API
records `os:<account>` as the actor; a `--by` that says something else is kept as a note beside it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from common.staff_identity import os_account

PEER_EXTENSION = "cellbridge.peer"
_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    pid: int
    uid: int
    gid: int

    @property
    def account(self) -> str:
        """The account's name, or `uid<N>` for a uid with no passwd entry."""
        return os_account(self.uid)


def peer_credentials(sock: socket.socket | None) -> PeerCredentials | None:
    """The credentials of the process on the other end of a Unix socket (None: not one)."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    return PeerCredentials(*_UCRED.unpack(raw))


class PeerCredentialsProtocol(H11Protocol):
    """uvicorn's h11 protocol, with the peer's credentials in every request's scope.

    A protocol object lives for one connection, so the credentials are read once, when the
    connection is made, and every request on it is handed to the app through a wrapper."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = peer_credentials(transport.get_extra_info("socket"))
        inner = self.app

        async def with_peer(scope: Any, receive: Any, send: Any) -> None:
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), PEER_EXTENSION: peer}
            await inner(scope, receive, send)

        self.app = with_peer


def caller_account(request: Request) -> str:
    """The OS account of the caller; 403 when the connection did not say (not a Unix socket),
    unless the app was made with an `anonymous` account (in-process tests)."""
    peer = (request.scope.get("extensions") or {}).get(PEER_EXTENSION)
    if isinstance(peer, PeerCredentials):
        return peer.account
    anonymous = getattr(request.app.state, "anonymous", None)
    if isinstance(anonymous, str):
        return anonymous
    raise HTTPException(403, "the caller's OS account is unknown: use the gateway's Unix socket")


Caller = Annotated[str, Depends(caller_account)]
"""A route parameter: the caller's verified OS account."""

"""HTTPS to the wing gateway's repository: one urllib3 pool, the gateway's CA, hard limits.

Used by the TUF fetcher (metadata) and by the bundle download. Every request has a connect and
read timeout and an overall deadline, so a gateway that trickles bytes cannot hold the agent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import urllib3
from tuf.api import exceptions
from tuf.ngclient.fetcher import FetcherInterface

CHUNK = 1024 * 1024


def make_pool(ca_file: Path | None, timeout_s: float = 10.0) -> urllib3.PoolManager:
    """A pool that trusts only `ca_file` (the gateway's CA), or the system store when None."""
    kwargs: dict[str, object] = {}
    if ca_file is not None:
        kwargs["ca_certs"] = str(ca_file)
    return urllib3.PoolManager(
        num_pools=2,
        maxsize=2,
        cert_reqs="CERT_REQUIRED",
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        retries=False,
        **kwargs,  # type: ignore[arg-type]
    )


class SlowRetrievalError(exceptions.DownloadError):
    """The server did not deliver within the overall deadline (TUF's slow retrieval attack)."""


class GatewayFetcher(FetcherInterface):
    """TUF's fetcher over our pool, with an overall deadline per file (slow retrieval).

    ngclient already caps each metadata file's length; this adds the time cap.
    """

    def __init__(self, pool: urllib3.PoolManager, deadline_s: float = 30.0) -> None:
        self.pool = pool
        self.deadline_s = deadline_s

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self.pool.request("GET", url, preload_content=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(f"cannot fetch {url}: {exc}") from exc
        if response.status != 200:
            response.close()  # never read an error body: it may not end
            response.release_conn()
            raise exceptions.DownloadHTTPError(f"{url}: HTTP {response.status}", response.status)
        return self._chunks(response, url)

    def _chunks(self, response: urllib3.BaseHTTPResponse, url: str) -> Iterator[bytes]:
        deadline = time.monotonic() + self.deadline_s
        try:
            while True:
                if time.monotonic() > deadline:
                    raise SlowRetrievalError(f"{url}: not delivered within {self.deadline_s}s")
                try:
                    chunk = response.read1(CHUNK)
                except urllib3.exceptions.HTTPError as exc:
                    raise exceptions.DownloadError(f"{url}: {exc}") from exc
                if not chunk:
                    return
                yield chunk
        finally:
            response.close()  # a half-read body must not poison the pooled connection
            response.release_conn()

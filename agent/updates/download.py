"""Resumable, bounded, streaming download of a release bundle.

TUF's own `download_target` buffers into a temporary file and cannot resume, so bundles come
through here: the partial file grows with Range requests, never past the target's declared
length; the whole transfer has a deadline; and the bytes are hashed as they arrive, with the
digests compared against the TUF target's hashes at the end (the streaming equivalent of
`TargetFile.verify_length_and_hashes`, in constant memory). A resumed download re-hashes what it
already has rather than trusting it.

The file is not fsynced: it is a cache, never trusted without a hash. After a power cut the
engine re-verifies it, and a file that lost bytes is downloaded again from the start (a resumed
download whose final digest fails is retried once from byte 0 before anything is refused), so
the bytes the server sent are the only ones ever refused. Skipping the fsync saves writing the
whole bundle to storage a second time: it is deleted right after the slot write.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import urllib3

CHUNK = 1024 * 1024
WRITE_SLICE = 256 * 1024
"""Largest single write(). Bigger writes make ext4 allocate large page-cache folios, which on
this VM (free-page reporting) fault in fresh host memory: 1 MiB writes measured 10x slower."""
IN_FLIGHT = 4
"""Blocks read but not yet both hashed and written: bounds memory to a few MiB."""
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DownloadError(Exception):
    """The transfer failed (network, server): retry later, keep the partial file."""


class DownloadRefused(Exception):
    """The bytes are not the release TUF signed for (too long, wrong hash, too slow)."""


class DigestMismatch(DownloadRefused):
    """The file's length or hashes are not the signed ones."""


@dataclass(frozen=True)
class Expected:
    """What TUF says the file is."""

    length: int
    hashes: dict[str, str] = field(default_factory=dict)


class Hasher(Protocol):
    """What a download needs of a hash object: `hashlib.new`'s (whose own type is private)."""

    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


Hashers = dict[str, Hasher]


def _hashers(expected: Expected) -> Hashers:
    if not expected.hashes:
        raise DownloadRefused("the target lists no hashes")
    try:
        return {algo: hashlib.new(algo) for algo in expected.hashes}
    except ValueError as exc:
        raise DownloadRefused(f"unsupported hash algorithm: {exc}") from exc


def verify_digests(hashers: Hashers, length: int, expected: Expected) -> None:
    if length != expected.length:
        raise DigestMismatch(f"length {length} is not the signed length {expected.length}")
    for algo, hasher in hashers.items():
        if not hmac.compare_digest(hasher.hexdigest(), expected.hashes[algo].lower()):
            raise DigestMismatch(f"{algo} of the bundle does not match the signed target")


def hash_file(path: Path, expected: Expected, limit: int | None = None) -> tuple[Hashers, int]:
    """Hash the first `limit` bytes of `path` (all when None) in constant memory."""
    hashers = _hashers(expected)
    done = 0
    with open(path, "rb") as f:
        while limit is None or done < limit:
            want = CHUNK if limit is None else min(CHUNK, limit - done)
            chunk = f.read(want)
            if not chunk:
                break
            for h in hashers.values():
                h.update(chunk)
            done += len(chunk)
    return hashers, done


def verify_file(path: Path, expected: Expected) -> None:
    """Re-check a finished download (after a restart) against the signed length and hashes."""
    hashers, length = hash_file(path, expected)
    if path.stat().st_size != length:
        raise DownloadRefused("file changed while hashing")
    verify_digests(hashers, length, expected)


def bundle_files(directory: Path, expected: Expected) -> tuple[Path, Path]:
    """Where a bundle downloads (`.partial`) and where it is kept once whole (`.raucb`): named
    by its digest, so a resumed download continues the file of this very target."""
    digest = expected.hashes.get("sha256") or next(iter(expected.hashes.values()), "none")
    return directory / f"{digest}.partial", directory / f"{digest}.raucb"


def kept_bundle(bundle: Path, expected: Expected) -> bool:
    """A whole bundle kept from before a restart or power cut, checked again: True if it still
    verifies; one that does not is removed (and downloaded again)."""
    if not bundle.exists():
        return False
    try:
        verify_file(bundle, expected)
    except DownloadRefused:
        bundle.unlink()
        return False
    return True


def download(
    pool: urllib3.PoolManager,
    url: str,
    partial: Path,
    expected: Expected,
    *,
    deadline_s: float,
    progress: Callable[[int, int], None] | None = None,
    stop_after: int | None = None,
) -> None:
    """Complete `partial` from `url` and verify it; raises DownloadError or DownloadRefused.

    `stop_after` ends the transfer (DownloadError) once that many bytes are on disk: how tests
    and the bench cut a download at a chosen point.
    """
    deadline = time.monotonic() + deadline_s
    resumed = partial.exists() and partial.stat().st_size > 0
    try:
        _complete(pool, url, partial, expected, deadline, progress, stop_after)
    except DigestMismatch:
        if not resumed:
            raise
        # Bytes kept from an earlier attempt may not have survived a power cut (the file is
        # not fsynced): only a transfer made whole by this one may be blamed on the server.
        partial.unlink(missing_ok=True)
        _complete(pool, url, partial, expected, deadline, progress, stop_after)


def _complete(
    pool: urllib3.PoolManager,
    url: str,
    partial: Path,
    expected: Expected,
    deadline: float,
    progress: Callable[[int, int], None] | None,
    stop_after: int | None,
) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    if have > expected.length:
        partial.unlink()
        have = 0
    hashers, have = hash_file(partial, expected, have) if have else (_hashers(expected), 0)
    if have < expected.length:
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = pool.request("GET", url, headers=headers, preload_content=False,
                                    redirect=False, decode_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise DownloadError(f"cannot fetch {url}: {exc}") from exc
        try:
            if have and response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != have:
                    raise DownloadError("server answered a different range")
            elif response.status == 200:
                have = 0
                hashers = _hashers(expected)
            else:
                raise DownloadError(f"{url}: HTTP {response.status}")
            with open(partial, "r+b" if have and partial.exists() else "wb") as out:
                out.seek(have)
                out.truncate()
                have = _receive(response, out, hashers, have, expected, deadline, progress,
                                stop_after)
        finally:
            response.close()  # never hand a half-read body back to the pool
            response.release_conn()
        if have < expected.length:
            raise DownloadError(f"transfer ended at {have} of {expected.length} bytes")
    verify_digests(hashers, have, expected)


def _receive(
    response: urllib3.BaseHTTPResponse,
    out: BinaryIO,
    hashers: Hashers,
    have: int,
    expected: Expected,
    deadline: float,
    progress: Callable[[int, int], None] | None,
    stop_after: int | None,
) -> int:
    """Copy the body to `out` in 1 MiB blocks, hashing as it goes; returns the bytes on disk.

    Three stages overlap on their own threads: this one reads (TLS decryption), one hashes, one
    writes; hashlib, SSL reads and file writes release the GIL, so they run on both cores. Each
    stage handles blocks in order (one worker per stage), at most IN_FLIGHT blocks behind.

    Blocks are read whole (few Python steps per MiB), so a server trickling bytes never returns
    from a read: a watchdog shuts the socket at the deadline and the read fails.
    """
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            response.shutdown()

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    hasher = ThreadPoolExecutor(1, thread_name_prefix="bundle-hash")
    writer = ThreadPoolExecutor(1, thread_name_prefix="bundle-write")
    pending: deque[tuple[Future[None], Future[None]]] = deque()
    # A ring of reused blocks: no allocation per MiB (malloc churn cost page faults).
    ring = [memoryview(bytearray(CHUNK)) for _ in range(IN_FLIGHT)]
    readinto = _readinto(response)

    def settle(keep: int) -> None:
        while len(pending) > keep:
            hashed, written = pending.popleft()
            hashed.result()
            written.result()

    try:
        block = 0
        while have < expected.length:
            settle(IN_FLIGHT - 1)  # the ring's next block is free again
            view = ring[block % IN_FLIGHT][:min(CHUNK, expected.length - have + 1)]
            block += 1
            try:
                got = readinto(view)
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                if expired.is_set():
                    raise _slow(deadline) from exc
                raise DownloadError(f"transfer broke at {have} bytes: {exc}") from exc
            if expired.is_set():
                raise _slow(deadline)
            if not got:
                break
            if have + got > expected.length:
                raise DownloadRefused(f"server sent more than the signed length {expected.length}")
            chunk = view[:got]
            pending.append((hasher.submit(_hash, hashers, chunk),
                            writer.submit(_write, out, chunk)))
            have += got
            if progress is not None:
                progress(have, expected.length)
            if stop_after is not None and have >= stop_after:
                settle(0)
                out.flush()
                raise DownloadError(f"transfer stopped at {have} bytes")
        if have == expected.length and _more(readinto):
            raise DownloadRefused(f"server sent more than the signed length {expected.length}")
        settle(0)
    finally:
        watchdog.cancel()
        for stage in (hasher, writer):
            stage.shutdown(wait=True)  # what was received stays on disk for a resume
    return have


def _readinto(response: urllib3.BaseHTTPResponse) -> Callable[[memoryview], int]:
    """Read the body straight into our blocks. urllib3's own `readinto` reads into a new bytes
    object and copies (urllib3 issue 1540), so the http.client response under it is used when
    it is there (no content decoding is asked for: the body is the bytes on the wire)."""
    raw = getattr(response, "_fp", None)
    if isinstance(raw, http.client.HTTPResponse):
        return raw.readinto
    return response.readinto


def _more(readinto: Callable[[memoryview], int]) -> bool:
    """Whether the body goes on past the signed length (a broken connection there is no)."""
    try:
        return readinto(memoryview(bytearray(1))) > 0
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
        return False


def _hash(hashers: Hashers, chunk: memoryview) -> None:
    for h in hashers.values():
        h.update(chunk)


def _write(out: BinaryIO, chunk: memoryview) -> None:
    for start in range(0, len(chunk), WRITE_SLICE):
        out.write(chunk[start:start + WRITE_SLICE])


def _slow(deadline: float) -> DownloadRefused:
    return DownloadRefused("not delivered within the deadline (slow retrieval)")

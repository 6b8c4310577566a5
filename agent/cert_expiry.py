"""When the tablet's own client certificate runs out, for its `reported` document
(`ReportedState.cert_not_after`): the gateway never sees client certificates outside the
broker's TLS handshake, so the tablet says it, and the console's inventory warns ahead.

Read from the certificate file the agent connects with (`[broker.tls] cert`, or the enrolment
bundle's); read again only when the file changes (a renewal replaces it). Anything unreadable is
None ("not known"), never an error: the report must go out regardless.
"""

from __future__ import annotations

import logging
from pathlib import Path

from wire.certs import MAX_PEM_BYTES, PkiError, load_certs

log = logging.getLogger(__name__)


class CertExpiry:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None
        self._not_after: int | None = None

    def not_after_ms(self) -> int | None:
        """The certificate's notAfter in ms since the epoch (UTC); None if not known."""
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
            mark = (stat.st_mtime_ns, stat.st_size)
            if mark != self._seen:
                self._seen, self._not_after = mark, None
                with self._path.open("rb") as handle:
                    certs = load_certs(handle.read(MAX_PEM_BYTES + 1), str(self._path))
                if certs:  # the leaf first; a chain after it is not ours
                    self._not_after = int(certs[0].not_valid_after_utc.timestamp() * 1000)
        except (OSError, PkiError, ValueError) as exc:
            log.warning("client certificate %s: expiry not known: %s", self._path, exc)
            return None
        return self._not_after

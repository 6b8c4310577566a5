"""Host names as the web allow-list compares them. Pure.

One spelling per name, so a suffix trick or a look-alike cannot pass as an allowed site:
lower-case, the trailing dot of a fully-qualified name dropped, internationalised names in their
ASCII (punycode, `xn--`) form under UTS #46, every label letters-digits-hyphens. IP literals, in
any spelling a resolver would accept (`127.0.0.1`, `[::1]`, `0x7f.1`, `2130706433`), are refused:
a site is a name, and only the gateway's proxy resolves names.

Patterns are exact names (`www.gov.uk`) or `*.suffix` (`*.gov.uk`: any name *under* gov.uk, not
gov.uk itself; list both to allow both). No regular expressions.
"""

from __future__ import annotations

import functools
import re

import idna

MAX_HOST = 253
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TOP_LABEL = re.compile(r"^[a-z][a-z0-9-]*$")
"""The last label starts with a letter (every real top-level domain does): `0x7f`, `1` and other
numeric spellings that `inet_aton` would read as an address are not names."""


class HostError(ValueError):
    """Not a host name the allow-list can compare; `reason` is a short code ("ip_literal")."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@functools.lru_cache(maxsize=4096)
def normalise_host(text: str) -> str:
    """The one spelling of host name `text`, or HostError (`bad_host` or `ip_literal`). An IPv4
    literal in any spelling ends in a numeric label; an IPv6 one has a colon."""
    if not isinstance(text, str) or not text or len(text) > MAX_HOST + 1:
        raise HostError("bad_host", "empty or too long")
    host = text[:-1] if text.endswith(".") else text
    if host.startswith("[") or ":" in host:
        raise HostError("ip_literal", f"{text!r} is an IP address, not a name")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise HostError("bad_host", f"{text!r} is not a valid international name") from exc
    host = host.lower()
    labels = host.split(".")
    if len(host) > MAX_HOST or any(not _LABEL.match(label) for label in labels):
        raise HostError("bad_host", f"{text!r} is not a host name")
    if not _TOP_LABEL.match(labels[-1]):
        raise HostError("ip_literal", f"{text!r} ends in a number: an address, not a name")
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise HostError("bad_host", f"{text!r} has a malformed xn-- label") from exc
    return host


def normalise_pattern(text: str) -> str:
    """A site's host pattern in its one spelling: `name` or `*.name`; raises HostError."""
    if text.startswith("*."):
        return "*." + normalise_host(text[2:])
    if "*" in text:
        raise HostError("bad_host", f"{text!r}: a wildcard is only allowed as a leading '*.'")
    return normalise_host(text)


def matches(host: str, pattern: str) -> bool:
    """Whether normalised `host` falls under normalised `pattern` (label boundaries only:
    `*.gov.uk` matches `www.gov.uk`, never `evilgov.uk` or `gov.uk.evil.example`)."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern

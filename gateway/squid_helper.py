"""Squid's external ACL helper for the wing web proxy: asks the gateway, answers OK or ERR.

Squid runs it (as its own user) with the concurrent protocol: each input line is
`CHANNEL TABLET HOST` (mode `connect`) or `CHANNEL TABLET/HOST SNI` (mode `sni`: the tag this
helper put on the client connection at the CONNECT), values URL-escaped, `-` when absent; each
answer is `CHANNEL OK clt_conn_tag=TABLET/HOST log=REASON` (connect), `CHANNEL OK log=REASON`
(sni) or `CHANNEL ERR log=REASON message=REASON`. The question goes to the gateway's decision socket
(`gateway.web_decider`) as one line, `TABLET HOST SNI MODE`; its answer `OK REASON` or
`ERR REASON`. Anything that goes wrong — the gateway unreachable, slow, or answering nonsense —
is ERR: the proxy fails closed.

Standard library only, one file: the gateway copies it into Squid's directory and Squid runs it
with the system interpreter, as a user that cannot read the gateway's code or its virtualenv.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import BinaryIO
from urllib.parse import unquote

TIMEOUT_S = 2.0
MAX_ANSWER = 512


class Gateway:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: socket.socket | None = None
        self.reader: BinaryIO | None = None

    def ask(self, question: str) -> str:
        """The gateway's answer line, or `ERR REASON` if it cannot be had."""
        for attempt in (1, 2):
            try:
                if self.conn is None or self.reader is None:
                    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    conn.settimeout(TIMEOUT_S)
                    conn.connect(self.path)
                    self.conn, self.reader = conn, conn.makefile("rb")
                self.conn.sendall(question.encode("utf-8") + b"\n")
                answer = self.reader.readline(MAX_ANSWER)
                if not answer.endswith(b"\n"):
                    raise OSError("no answer")
                return answer.decode("utf-8", "replace").strip()
            except OSError:
                self.close()
                if attempt == 2:
                    return "ERR gateway_unreachable"
        return "ERR gateway_unreachable"

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        self.conn = self.reader = None


def _field(text: str) -> str:
    value = unquote(text)
    return "-" if not value or any(c.isspace() for c in value) else value


def answer(line: str, mode: str, gateway: Gateway) -> str:
    parts = line.split()
    if not parts:
        return ""
    channel = parts[0]
    fields = [_field(p) for p in parts[1:]]
    if len(fields) < 2:
        return f"{channel} ERR log=bad_request message=bad_request"
    if mode == "sni":
        tablet, _, host = fields[0].partition("/")
        sni = fields[1]
    else:
        tablet, host, sni = fields[0], fields[1], "-"
    if tablet in ("", "-") or not host:
        return f"{channel} ERR log=no_tablet_id message=no_tablet_id"
    reply = gateway.ask(f"{tablet} {host} {sni} {mode}").split()
    verdict, reason = ([*reply, "", ""])[:2]
    reason = reason or "no_reason"
    if verdict != "OK":
        return f"{channel} ERR log={reason} message={reason}"
    if mode == "connect":
        return f"{channel} OK clt_conn_tag={tablet}/{host} log={reason}"
    return f"{channel} OK log={reason}"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in ("connect", "sni"):
        sys.stderr.write("usage: squid_helper.py DECIDER_SOCKET connect|sni\n")
        return 2
    gateway = Gateway(argv[1])
    for line in sys.stdin:
        reply = answer(line, argv[2], gateway)
        if reply:
            sys.stdout.write(reply + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

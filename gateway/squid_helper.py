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
import os
import socket
import sys
from urllib.parse import unquote

TIMEOUT_S = 2.0
MAX_ANSWER = 512


class Gateway:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: socket.socket | None = None

    def ask(self, question: str) -> str:
        """The gateway's answer line, or `ERR REASON` if it cannot be had."""
        return self.ask_many([question])[0]

    def ask_many(self, questions: list[str]) -> list[str]:
        """The gateway's answers, in order (one write, then the answers: pipelined), or every
        one `ERR gateway_unreachable` if they cannot be had."""
        if not questions:
            return []
        payload = "".join(q + "\n" for q in questions).encode("utf-8")
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    conn.settimeout(TIMEOUT_S)
                    conn.connect(self.path)
                    self.conn = conn
                self.conn.sendall(payload)
                return self._answers(self.conn, len(questions))
            except OSError:
                self.close()
                if attempt == 2:
                    break
        return ["ERR gateway_unreachable"] * len(questions)

    @staticmethod
    def _answers(conn: socket.socket, count: int) -> list[str]:
        """`count` answer lines, read in as few calls as they arrive in (no line-at-a-time
        reads: the helper answers batches of hundreds); OSError if they do not all come."""
        chunks: list[bytes] = []
        seen = 0
        while seen < count:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("no answer")
            chunks.append(chunk)
            seen += chunk.count(b"\n")
            if sum(len(c) for c in chunks) > MAX_ANSWER * count:
                raise OSError("answer too long")
        lines = b"".join(chunks).split(b"\n")
        if seen != count or lines[-1]:
            raise OSError("answers out of step")  # more than asked: never trust the rest
        if any(len(line) > MAX_ANSWER for line in lines):
            raise OSError("answer too long")
        return [line.decode("utf-8", "replace").strip() for line in lines[:count]]

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        self.conn = None


def _field(text: str) -> str:
    value = unquote(text) if "%" in text else text
    return value if value and value.split() == [value] else "-"  # empty or with spaces: "-"


def _question(line: str, mode: str) -> tuple[str, str | None, str]:
    """(channel, the question for the gateway, "") or (channel, None, the answer unasked)."""
    parts = line.split()
    channel = parts[0] if parts else ""
    fields = [_field(p) for p in parts[1:]]
    if len(fields) < 2:
        return channel, None, f"{channel} ERR log=bad_request message=bad_request"
    if mode == "sni":
        tablet, _, host = fields[0].partition("/")
        sni = fields[1]
    else:
        tablet, host, sni = fields[0], fields[1], "-"
    if tablet in ("", "-") or not host:
        return channel, None, f"{channel} ERR log=no_tablet_id message=no_tablet_id"
    return channel, f"{tablet} {host} {sni} {mode}", ""


def _reply(channel: str, question: str, mode: str, gateway_answer: str) -> str:
    verdict, reason = ([*gateway_answer.split(), "", ""])[:2]
    reason = reason or "no_reason"
    if verdict != "OK":
        return f"{channel} ERR log={reason} message={reason}"
    if mode == "connect":
        tablet, host = question.split()[:2]
        return f"{channel} OK clt_conn_tag={tablet}/{host} log={reason}"
    return f"{channel} OK log={reason}"


def answer_all(lines: list[str], mode: str, gateway: Gateway) -> list[str]:
    """Squid's answers for a batch of its lines, the gateway asked once for all of them."""
    parsed = [_question(line, mode) for line in lines if line.strip()]
    answers = iter(gateway.ask_many([q for _, q, _ in parsed if q is not None]))
    return [_reply(channel, question, mode, next(answers)) if question is not None else unasked
            for channel, question, unasked in parsed]


def answer(line: str, mode: str, gateway: Gateway) -> str:
    replies = answer_all([line], mode, gateway)
    return replies[0] if replies else ""


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in ("connect", "sni"):
        sys.stderr.write("usage: squid_helper.py DECIDER_SOCKET connect|sni\n")
        return 2
    gateway = Gateway(argv[1])
    pending = b""
    while chunk := os.read(sys.stdin.fileno(), 65536):
        *complete, pending = (pending + chunk).split(b"\n")
        lines = [line.decode("utf-8", "replace") for line in complete]
        replies = answer_all(lines, argv[2], gateway)
        if replies:
            sys.stdout.write("".join(reply + "\n" for reply in replies))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

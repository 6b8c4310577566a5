"""What staff read is inert: text stored from tablets or typed by staff (request bodies, lock
reasons, `--by`, error details) reaches the terminal with every control, format and bidi
character shown as an escape, in every table and line, while `--json` keeps it exactly.

A stand-in gateway on a Unix socket answers every staff command with that text in every field.
"""

from __future__ import annotations

import http.server
import json
import os
import pwd
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.staff import staff

# Retitle the terminal and ring, clear it, overprint the line, reverse what follows (RLO), a C1
# CSI, DEL, and a newline that would forge a row of its own.
EVIL = "\x1b]0;owned\x07\x1b[2J\rLOCKED\u202eevil\x9b31m\x7f\nT9  forged"
ESCAPED = "\\x1b]0;owned\\x07\\x1b[2J\\rLOCKED\\u202eevil\\x9b31m\\x7f\\nT9  forged"
NOW = 1_767_225_600_000

TABLETS = [
    {"id": EVIL, "cell": EVIL, "landing": EVIL, "online": True, "boot_id": EVIL, "profile": EVIL,
     "last_seen": NOW, "locked": True, "lock": {"source": EVIL, "reason": EVIL},
     "desired": {"version": 2, "locked": True, "reported_version": 2},
     "lockdown": {"version": 1, "locked": False, "reported_version": None}, "in_sync": True},
    {"id": "T2", "cell": "C1", "landing": "L1", "online": False, "boot_id": None, "profile": None,
     "last_seen": None, "locked": None, "lock": None,
     "desired": {"version": 1, "locked": False, "reported_version": None},
     "lockdown": {"version": 1, "locked": False, "reported_version": None}, "in_sync": False},
]
BROKER: dict[str, Any] = {"connected": True, "connected_since": NOW, "disconnected_since": None, "takeovers": 0,
          "last_takeover": None, "alarms": []}
AUDIT = {"entries": [{"seq": 1, "at": NOW, "actor": EVIL, "action": EVIL, "target": EVIL,
                      "detail": {"reason": EVIL}}],
         "verify": {"ok": True, "entries": 1}}
REQUESTS = [{"id": "0" * 32, "device": EVIL, "type": EVIL, "text": EVIL, "received": NOW,
             "status": EVIL, "copies": 0, "reply": EVIL, "reply_by": EVIL,
             "reply_delivered": True}]
UPDATES = {
    "rollouts": [{"id": EVIL, "version": EVIL, "stage": EVIL, "reason": EVIL,
                  "counts": {"succeeded": 0, "in_progress": 0, "failed": 1, "waiting": 0,
                             "not_reached": 0}}],
    "tablets": [{"id": EVIL, "reported": {"running": EVIL, "state": EVIL, "error": EVIL},
                 "desired": {"version": EVIL},
                 "apps": [{"app": EVIL, "version": EVIL, "state": EVIL, "error": EVIL}]}],
}
DECISION = {"at": NOW, "state": EVIL, "label": EVIL, "starts_at": None, "ends_at": None,
            "apps": [{"app": EVIL, "allowed": True}]}
LOCK = {"targets": ["T1", EVIL], "pending": [EVIL], "confirmed": ["T1"], "version": 3,
        "rejected": {EVIL: EVIL}}
JOB = {"id": EVIL, "device": EVIL, "kind": EVIL, "reason": EVIL, "requested_by": EVIL,
       "requested_at": NOW, "approved_by": EVIL, "approved_at": NOW, "state": EVIL,
       "expires": NOW, "detail": EVIL, "updated": NOW, "approve_by": None}

PRISONER = {"number": "A1234BC", "name": EVIL, "language": "en", "profile": EVIL, "cell": EVIL,
            "release_date": EVIL, "status": "in_cell", "credential": "pin", "pin_epoch": 1,
            "failed": 0, "locked_out": False, "settings": {}, "lessons": {}, "updated": NOW,
            "left_at": None, "tablets": [EVIL], "signed_in_on": [EVIL]}
ROLL = {"rows": 1, "bad": [{"line": 2, "reason": EVIL}], "dry_run": True, "applied": False,
        "added": [], "readmitted": [], "moved": [], "updated": [], "released": [],
        "unchanged": 0}
ANSWERS: dict[tuple[str, str], tuple[int, Any]] = {
    ("GET", "/v1/prisoners"): (200, [PRISONER]),
    ("GET", "/v1/prisoners/A1234BC"): (200, PRISONER),
    ("POST", "/v1/prisoners/import"): (200, ROLL),
    ("GET", "/v1/tablets"): (200, TABLETS),
    ("GET", "/v1/health"): (200, {"wing": "w1", "broker_connected": True, "tablets": 2,
                                  "broker": BROKER}),
    ("GET", "/v1/audit"): (200, AUDIT),
    ("GET", "/v1/requests"): (200, REQUESTS),
    ("GET", "/v1/updates"): (200, UPDATES),
    ("GET", "/v1/policy/decision"): (200, DECISION),
    ("GET", "/v1/policy"): (200, {"rules": {"timezone": "Europe/London"}}),
    ("POST", "/v1/lock"): (200, LOCK),
    ("POST", "/v1/rollouts"): (200, {"id": EVIL}),
    ("POST", f"/v1/requests/{'0' * 32}/reply"): (200, {"device": EVIL}),
    ("POST", "/v1/profile"): (422, {"detail": EVIL}),
    ("GET", "/v1/jobs"): (200, [JOB]),
    ("POST", "/v1/jobs"): (200, JOB),
    ("POST", "/v1/jobs/J1/approve"): (200, JOB),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self) -> None:
        status, body = ANSWERS[(self.command, self.path.split("?")[0])]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "api.sock"
    server = UnixHTTPServer(str(path), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def shown_inert(text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == ""  # every line ended by the command, none by the stored text
    for line in lines[:-1]:
        assert line.isprintable(), line


COMMANDS = [
    pytest.param(["status"], 0, id="status"),
    pytest.param(["audit", "--verify"], 0, id="audit"),
    pytest.param(["requests", "list"], 0, id="requests-list"),
    pytest.param(["requests", "reply", "0" * 32, "--text", "yes"], 0, id="requests-reply"),
    pytest.param(["update", "status"], 0, id="update-status"),
    pytest.param(["update", "start", "--id", "r1", "--target", "os/x.raucb", "--version", "1",
                  "--canary", "T1"], 0, id="update-start"),
    pytest.param(["policy", "curfew", "status"], 0, id="curfew-status"),
    pytest.param(["lock", "--device", "T1", "--reason", "search", "--wait", "1"], 1, id="lock"),
    pytest.param(["policy", "profile", "enhanced", "--device", "T1"], 2, id="refused"),
    pytest.param(["jobs"], 0, id="jobs"),
    pytest.param(["wipe", "--device", "T1", "--reason", "handed back"], 0, id="wipe"),
    pytest.param(["wipe", "approve", "J1"], 0, id="wipe-approve"),
    pytest.param(["reboot", "--device", "T1", "--reason", "stuck"], 0, id="reboot"),
    pytest.param(["prisoner", "list"], 0, id="prisoner-list"),
    pytest.param(["prisoner", "show", "A1234BC"], 0, id="prisoner-show"),
    pytest.param(["prisoner", "import", __file__, "--dry-run"], 2, id="prisoner-import"),
]


@pytest.mark.parametrize(("args", "exit_code"), COMMANDS)
def test_stored_text_reaches_the_terminal_inert(args: list[str], exit_code: int,
                                                api: Path) -> None:
    result = CliRunner().invoke(staff, [*args, "--api", str(api)])
    assert result.exit_code == exit_code, result.output
    shown_inert(result.stdout)
    shown_inert(result.stderr)
    assert ESCAPED[:40] in result.output  # shown, escaped, not dropped


def test_a_table_keeps_one_line_per_row_whatever_the_text(api: Path) -> None:
    result = CliRunner().invoke(staff, ["status", "--api", str(api)])
    curfew, *lines = result.stdout.splitlines()
    assert curfew.startswith("The gateway says the wing is ") and ESCAPED[:20] in curfew
    assert len(lines) == 1 + len(TABLETS)
    assert lines[1].startswith(ESCAPED) and lines[2].split()[0] == "T2"


def test_requests_list_shows_the_reply_and_who_sent_it_escaped(api: Path) -> None:
    result = CliRunner().invoke(staff, ["requests", "list", "--api", str(api)])
    assert result.stdout.splitlines()[1:] == [
        f"    {ESCAPED}", f"    reply by {ESCAPED} (delivered): {ESCAPED}"]


@pytest.mark.parametrize(("args", "data"), [
    (["status"], {"broker": BROKER, "tablets": TABLETS}), (["audit"], AUDIT), (["requests", "list"], REQUESTS),
    (["update", "status"], UPDATES), (["policy", "curfew", "status"], DECISION),
])
def test_json_output_keeps_the_text_exactly_as_stored(args: list[str], data: Any,
                                                      api: Path) -> None:
    result = CliRunner().invoke(staff, [*args, "--json", "--api", str(api)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == data
    assert result.stdout.isascii() and "\x1b" not in result.stdout


# Through the real gateway: the text is stored as received and shown inert.

TABLET_TEXT = "nurse please\x1b[2J\x1b]0;owned\x07\r\u202e"
STAFF_TEXT = "officer\x1b[31m\u202e"


async def test_a_tablets_request_is_listed_inert_and_kept_exactly(gateway, peer) -> None:
    import uuid

    from tests.gateway.tablet_peer import now_ms
    from wire.requests import Request
    from wire.topics import TabletChannel

    request = Request(id=uuid.uuid4().hex, type="healthcare", text=TABLET_TEXT, created=now_ms())
    async with peer("T1") as tablet:
        await tablet.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        for _ in range(200):
            listed = json.loads((await gateway.astaff("requests", "list", "--json")).stdout)
            if listed:
                break
    assert [r["text"] for r in listed] == [TABLET_TEXT]
    shown = await gateway.astaff("requests", "list")
    assert shown.returncode == 0
    shown_inert(shown.stdout)
    assert "    nurse please\\x1b[2J\\x1b]0;owned\\x07\\r\\u202e\n" in shown.stdout


async def test_a_staff_reason_and_name_are_shown_inert_in_status_and_audit(gateway, peer) -> None:
    async with peer("T1"):
        locked = await gateway.astaff("lock", "--device", "T1", "--reason", STAFF_TEXT,
                                      "--by", STAFF_TEXT, "--wait", "20")
        assert locked.returncode == 0, locked.stderr
    status = await gateway.astaff("status")
    audit = await gateway.astaff("audit")
    for result in (status, audit):
        assert result.returncode == 0
        shown_inert(result.stdout)
    assert "officer\\x1b[31m\\u202e" in status.stdout
    assert "officer\\x1b[31m\\u202e" in audit.stdout
    entries = json.loads((await gateway.astaff("audit", "--json")).stdout)["entries"]
    me = pwd.getpwuid(os.getuid()).pw_name
    assert f"staff:os:{me} ({STAFF_TEXT})" in [e["actor"] for e in entries]
    tablets = json.loads((await gateway.astaff("status", "--json")).stdout)["tablets"]
    assert tablets[0]["lock"]["reason"] == STAFF_TEXT

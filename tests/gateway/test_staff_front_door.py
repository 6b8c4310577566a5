"""What the staff CLI tells a newcomer is true and in words: an unlock that the wing lockdown
overrides says so, `status` says who locked and why, the profile,
the OS and whether the wing is in curfew now, and `curfew status` says until when and what is next.

A stand-in gateway on a Unix socket gives the answers; `curfew_words` is checked on its own.
Unknown names, and unlocks under a lockdown, against the real gateway: test_staff_truth.py.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socketserver
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from gateway.staff import staff
from gateway.staff.curfew_words import moment, next_in_words, now_in_words

LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(text: str) -> int:
    """Milliseconds of a London wall-clock time like 2026-12-07 20:00."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp() * 1000)


NOW = at("2026-12-07 20:00")


def tablet(device: str, *, lockdown: bool = False, locked: bool = False, by: str = "",
           reason: str = "", profile: str | None = "standard", signed_in: str | None = None,
           ) -> dict[str, Any]:
    lock = {"locked": locked, "source": "wing" if lockdown else "device" if locked else None,
            "by": by, "reason": reason, "since": NOW}
    return {"id": device, "cell": "1-01", "landing": "1", "online": True, "boot_id": "b",
            "last_seen": NOW, "profile": profile, "signed_in": signed_in, "locked": locked,
            "lock": lock,
            "desired": {"version": 2, "locked": False, "reported_version": 2},
            "lockdown": {"version": 1, "locked": lockdown, "reported_version": 1},
            "in_sync": True}


def decision(state: str, starts: int | None, ends: int | None, label: str | None = None,
             when: int = NOW) -> dict[str, Any]:
    return {"at": when, "profile": "standard", "state": state, "label": label or state,
            "starts_at": starts, "ends_at": ends, "next_boundary": None,
            "apps": [{"app": "canteen", "allowed": state == "open", "reason": ""}]}


Answer = Callable[[dict[str, list[str]]], tuple[int, Any]]


class StandIn:
    """A gateway that answers from `routes`; each answer may depend on the query string."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {
            ("GET", "/v1/policy"): lambda q: (200, {"rules": {"timezone": "Europe/London"}}),
            ("GET", "/v1/health"): lambda q: (200, {"broker_connected": True, "broker": {
                "connected": True, "alarms": [], "takeovers": 0}}),
            ("GET", "/v1/updates"): lambda q: (200, {"rollouts": [], "tablets": [
                {"id": "T-0001", "reported": {"running": "1.3.0", "state": "idle"},
                 "desired": None}]}),
        }
        self.posted: list[tuple[str, Any]] = []

    def answer(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        parts = urlsplit(path)
        if body is not None:
            self.posted.append((parts.path, body))
        route = self.routes.get((method, parts.path))
        return route(parse_qs(parts.query)) if route else (404, {"detail": "not found"})

    def set(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = lambda q: (status, body)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[StandIn, Path]]:
    stand_in = StandIn()

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, body: Any = None) -> None:
            status, data = stand_in.answer(self.command, self.path, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self.reply()

        def do_POST(self) -> None:
            self.reply(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    path = tmp_path / "api.sock"
    server = Server(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield stand_in, path
    server.shutdown()
    server.server_close()


def run(api: Path, *args: str) -> Any:
    return CliRunner().invoke(staff, [*args, "--api", str(api)])


UNLOCKED = {"targets": ["T-0001"], "pending": [], "confirmed": ["T-0001"], "version": 4,
            "rejected": {}}


@pytest.mark.parametrize(("wait", "exit_code", "prefix"),
                         [(["--wait", "5"], 1, "Error"), ([], 0, "Warning")])
def test_unlocking_a_tablet_during_a_wing_lockdown_says_it_stays_locked(
    gateway: tuple[StandIn, Path], wait: list[str], exit_code: int, prefix: str,
) -> None:
    stand_in, api = gateway
    stand_in.set("POST", "/v1/lock", UNLOCKED)
    stand_in.set("GET", "/v1/tablets", [tablet("T-0001", lockdown=True, locked=True)])

    result = run(api, "unlock", "--device", "T-0001", "--reason", "All clear", *wait)

    assert result.exit_code == exit_code, result.output
    assert result.stderr == (f"{prefix}: T-0001 remain(s) locked by the wing lockdown: lift it "
                             "with `staff unlock --wing`\n")


def test_unlocking_a_tablet_outside_a_lockdown_is_simply_done(
    gateway: tuple[StandIn, Path],
) -> None:
    stand_in, api = gateway
    stand_in.set("POST", "/v1/lock", UNLOCKED)
    stand_in.set("GET", "/v1/tablets", [tablet("T-0001")])
    result = run(api, "unlock", "--device", "T-0001", "--reason", "All clear", "--wait", "5")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "unlocked: all 1 tablet(s) confirmed\n", "")


def test_status_says_who_locked_and_why_the_profile_who_is_in_the_os_and_the_curfew_now(
    gateway: tuple[StandIn, Path],
) -> None:
    stand_in, api = gateway
    stand_in.set("GET", "/v1/tablets", [tablet("T-0001", locked=True, by="officer.jones",
                                               reason="Cell search", profile="enhanced",
                                               signed_in="A1234BC")])
    stand_in.set("GET", "/v1/policy/decision",
                 decision("curfew", at("2026-12-07 19:30"), at("2026-12-08 07:30")))

    result = run(api, "status")

    assert result.exit_code == 0, result.output
    curfew, header, row = result.stdout.splitlines()
    assert curfew == "The wing is in curfew now, until tomorrow 07:30."
    assert header.split()[:12] == ["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED", "SOURCE",
                                   "BY", "REASON", "PROFILE", "SIGNED", "IN", "OS"]
    assert row.split()[:12] == ["T-0001", "1-01", "1", "online", "LOCKED", "device",
                                "officer.jones", "Cell", "search", "enhanced", "A1234BC", "1.3.0"]


def test_status_before_any_policy_says_so(gateway: tuple[StandIn, Path]) -> None:
    stand_in, api = gateway
    stand_in.set("GET", "/v1/tablets", [])
    stand_in.set("GET", "/v1/policy/decision", {"detail": "no wing policy"}, status=404)
    result = run(api, "status")
    assert (result.exit_code, result.stdout) == (
        0, "Curfew: no wing policy applied yet.\nno tablets registered\n")


def test_curfew_status_says_now_until_when_and_the_next_window(
    gateway: tuple[StandIn, Path],
) -> None:
    stand_in, api = gateway
    in_curfew = decision("curfew", at("2026-12-07 19:30"), at("2026-12-08 07:30"))
    after = decision("open", at("2026-12-08 19:30"), at("2026-12-09 07:30"),
                     when=at("2026-12-08 07:30"))
    stand_in.routes[("GET", "/v1/policy/decision")] = (
        lambda q: (200, after if q.get("at") == [str(at("2026-12-08 07:30"))] else in_curfew))

    result = run(api, "policy", "curfew", "status")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "The wing is in curfew now, until tomorrow 07:30.",
        "Next curfew: from tomorrow 19:30 until Wed 09 Dec 07:30.",
        "(Times are the wing's own, Europe/London.)",
        "standard may use now: nothing",
    ]


@pytest.mark.parametrize(("answer", "words"), [
    (decision("open", at("2026-12-07 21:30"), at("2026-12-08 07:30")),
     "The wing is open now, until today 21:30."),
    (decision("warning", at("2026-12-07 20:10"), at("2026-12-08 07:30")),
     "The wing is open now, closing soon, until today 20:10."),
    (decision("open", None, None), "The wing is open now: no curfew is planned."),
    (decision("open", None, None, label="Late association"),
     "The wing is open now (Late association): no curfew is planned."),
    (decision("lockdown", at("2026-12-07 18:00"), None, label="Search"),
     "The wing is in a lockdown now (Search), with no end planned."),
    (decision("curfew", at("2026-12-07 19:30"), at("2026-12-11 07:30"), label="Christmas"),
     "The wing is in curfew now (Christmas), until Fri 11 Dec 07:30."),
    (decision("unknown", None, None),
     "Unknown: the gateway has no trusted time, so tablets allow only the always-allowed apps."),
])
def test_where_the_wing_stands_in_words(answer: dict[str, Any], words: str) -> None:
    assert now_in_words(answer, LONDON) == words


def test_the_next_window_in_words() -> None:
    assert next_in_words(decision("open", None, None), LONDON, NOW) == "Next curfew: none planned."
    lockdown_next = decision("lockdown", at("2026-12-08 07:30"), at("2026-12-08 12:00"),
                             label="Search", when=at("2026-12-08 07:30"))
    assert next_in_words(lockdown_next, LONDON, NOW) == (
        "Next lockdown (Search): from tomorrow 07:30 until tomorrow 12:00.")
    assert moment(at("2026-12-07 23:59"), NOW, LONDON) == "today 23:59"


EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"


def test_the_example_policy_checks_and_names_only_icons_the_shell_draws(tmp_path: Path) -> None:
    import tomllib

    from wire.icons import ICON_NAMES

    result = CliRunner().invoke(staff, ["policy", "apply", str(EXAMPLE), "--check"])
    assert (result.exit_code, result.stdout) == (0, f"{EXAMPLE}: ok\n")
    icons = {app["icon"] for app in tomllib.loads(EXAMPLE.read_text())["apps"].values()}
    assert icons <= ICON_NAMES and len(icons) == len(tomllib.loads(EXAMPLE.read_text())["apps"])


def test_policy_check_refuses_an_icon_typo_naming_file_line_and_field(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    bad = tmp_path / "wing.toml"
    bad.write_text(text.replace('icon = "puzzle"', 'icon = "puzle"'))
    line = next(n for n, row in enumerate(bad.read_text().splitlines(), 1) if '"puzle"' in row)

    result = CliRunner().invoke(staff, ["policy", "apply", str(bad), "--check"])

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"Error: {bad}:{line}: apps.games.icon: unknown icon 'puzle' "
                                    "(known: app, back, basket, ")


def test_every_table_has_upper_case_headers(gateway: tuple[StandIn, Path]) -> None:
    stand_in, api = gateway
    stand_in.set("GET", "/v1/updates", {
        "rollouts": [], "tablets": [{"id": "T-0001", "reported": {"running": "1.3.0",
                                                                  "state": "idle"},
                                     "desired": None, "apps": [{"app": "music",
                                                                "version": "1.0.0",
                                                                "state": "failed",
                                                                "error": "no space"}]}]})
    lines = run(api, "update", "status").stdout.splitlines()
    headers = [lines[0], next(line for line in lines if line.startswith("TABLET  ") and
                              "APP" in line)]
    assert headers[0].split() == ["TABLET", "RUNNING", "WANTED", "UPDATE", "LAST", "ERROR"]
    assert headers[1].split() == ["TABLET", "APP", "VERSION", "STATE", "LAST", "ERROR"]


def test_a_rollout_version_that_is_not_one_says_what_is_expected(tmp_path: Path) -> None:
    result = CliRunner().invoke(staff, ["update", "start", "--id", "r1", "--target",
                                        "os/cellbridge-os-1.4.0.raucb", "--version", "banana",
                                        "--canary", "T1", "--api", str(tmp_path / "none.sock")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: Invalid value for '--version': 'banana' is not a release "
                             "version: up to four numbers separated by dots, like 1.4.0\n")

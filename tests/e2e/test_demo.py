"""`make demo`'s program, run as a reader of the README would: a whole wing comes up over mutual
TLS, the tour locks and unlocks with the staff CLI, and tablet T-0001's shell draws each state;
T-0001 installs the signed apps the example policy pins, released by the demo as IT would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from device.launcher import ask_agent, start
from gateway.policy_file import load_rules
from tests.web.support import open_all_day_policy
from wire.policy import wing_policy
from wire.schedule import Schedule

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "gateway" / "policies" / "example.toml"


def demo_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DISPLAY", None)  # the demo starts its own Xvfb
    return env


@pytest.mark.gui
@pytest.mark.serial  # the tour gives the shell a second to draw each state: needs the machine
def test_the_demo_tour_locks_and_unlocks_a_tablet_and_its_shell_shows_it(tmp_path: Path) -> None:
    old = tmp_path / "demo" / "screenshots" / "0001-from-an-earlier-run.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "demo", "--tablets", "3", "--dir",
         str(tmp_path / "demo"), "--tour"],
        env=demo_env(), capture_output=True, text=True, timeout=300, check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "locked: all 1 tablet(s) confirmed" in result.stdout
    assert "locked: all 3 tablet(s) confirmed" in result.stdout  # the wing lockdown drill
    assert "asked to lift the wing lockdown" in result.stdout
    assert "Error: a second, different person must approve this" in result.stdout
    assert "audit chain intact" in result.stdout
    assert "healthcare" in result.stdout and "Please may I see the nurse" in result.stdout
    shots = sorted(p.name for p in (tmp_path / "demo" / "screenshots").glob("*.png"))
    assert any(name.endswith("-lock.png") for name in shots), shots
    # Unlocked, the shell shows what the example policy says of this moment: home, or the
    # curfew screen at night (the demo runs on the real clock).
    unlocked = "curfew" if in_curfew_now() else "home"
    assert any(name.endswith(f"-{unlocked}.png") for name in shots), shots
    assert old.name not in shots  # only this run's screenshots


def in_curfew_now() -> bool:
    policy = wing_policy(load_rules(EXAMPLE), audience="wing:demo", version=1, issued=0,
                         expires=2**52)
    return Schedule(policy).decide("standard", time.time_ns() // 1_000_000).state == "curfew"


def installed_version(state_dir: Path, app: str) -> str | None:
    try:
        envelope = json.loads((state_dir / "apps" / app / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return str(json.loads(envelope["body"])["app_version"])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@contextlib.contextmanager
def running_demo(tmp_path: Path, tablets: int) -> Iterator[tuple[Path, Path]]:
    """A headless demo in `tmp_path/demo`, up and waiting; (its directory, its output file).
    Stopped with Ctrl-C afterwards, which it must survive cleanly."""
    directory = tmp_path / "demo"
    out = tmp_path / "demo.out"
    with open(out, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "cellbridge", "demo", "--tablets", str(tablets), "--no-shell",
             "--dir", str(directory)], env=demo_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "The wing is running" in out.read_text() or demo.poll() is not None,
                 120, "the demo is up")
        assert demo.poll() is None, out.read_text()[-3000:]
        yield directory, out
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    assert demo.returncode == 0, out.read_text()[-3000:]


def test_the_demo_tablet_installs_every_app_the_policy_pins_and_one_launches(
    tmp_path: Path,
) -> None:
    with running_demo(tmp_path, 1) as (directory, out):
        pins = {app: entry["version"] for app, entry in load_rules(EXAMPLE)["apps"].items()}
        assert f"{len(pins)} signed apps" in out.read_text()
        tablet = directory / "tablets" / "T-0001"
        config = tomllib.loads((tablet / "agent.toml").read_text())

        wait_for(lambda: all(installed_version(tablet / "state", app) == version
                             for app, version in pins.items()), 60, f"{pins} installed")
        wait_for(lambda: ask_agent(config["socket"], "listener").ok, 30, "listener may start")
        reply = ask_agent(config["socket"], "listener")
        assert reply.argv == (str((tablet / "state" / "apps" / "listener" / "bin" / "run")
                                  .resolve()),)
        home = tmp_path / "home"
        app = start(reply, home, parent_env={})
        try:
            wait_for(lambda: (home / "listener.log").is_file(), 10, "the app ran")
        finally:
            app.stop()
        assert "Listener line 2.1.0 started" in (home / "listener.log").read_text()


def hold_in_another_process(directory: Path) -> subprocess.Popen[str]:
    """A process that holds `directory`'s demo lock until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from cellbridge.dir_lock import holding\n"
         f"with holding(Path({str(directory)!r})):\n print('held', flush=True); sys.stdin.read()"],
        env=demo_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_demo_on_a_directory_in_use_refuses_and_names_the_owner(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    holder = hold_in_another_process(directory)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "cellbridge", "demo", "--tablets", "1", "--no-shell",
             "--dir", str(directory), "--tour"],
            env=demo_env(), capture_output=True, text=True, timeout=60, check=False)
    finally:
        holder.communicate("")

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert f"in use by a running demo (process {holder.pid}" in result.stderr
    assert "broker" not in result.stdout  # nothing was started or rewritten
    assert not (directory / "gateway").exists() and not (directory / "tablets").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    from cellbridge.dir_lock import LOCK_NAME, DirectoryInUse, holding

    directory = tmp_path / "demo"
    holder = hold_in_another_process(directory)
    with pytest.raises(DirectoryInUse) as refused, holding(directory):
        pass
    assert refused.value.pid == holder.pid
    holder.kill()  # dies without cleaning up: its pid stays in the lock file
    holder.wait()
    assert (directory / LOCK_NAME).read_text() == f"{holder.pid}\n"

    with holding(directory) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"


def test_the_demo_shows_the_requests_path_and_refuses_a_release_it_does_not_have(
    tmp_path: Path,
) -> None:
    with running_demo(tmp_path, 2) as (directory, out):
        printed = out.read_text()
        api = next(line.split("=", 1)[1] for line in printed.splitlines()
                   if "export CELLBRIDGE_GATEWAY_API=" in line)
        assert "cellbridge demo request --dir" in printed
        env = {**demo_env(), "CELLBRIDGE_GATEWAY_API": api}

        def cellbridge(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "cellbridge", *args], env=env,
                                  capture_output=True, text=True, timeout=60, check=False)

        filed = cellbridge("demo", "request", "--dir", str(directory), "--type", "healthcare",
                           "Please may I see the nurse")
        assert filed.returncode == 0, filed.stderr
        request_id = filed.stdout.split()[1]
        wait_for(lambda: request_id in cellbridge("staff", "requests", "list").stdout, 30,
                 "the request reached the wing")
        listed = cellbridge("staff", "requests", "list", "--device", "T-0001").stdout
        assert "healthcare" in listed and "Please may I see the nurse" in listed

        # A simulated tablet files one too, through its own agent in the demo process.
        second = cellbridge("demo", "request", "--dir", str(directory), "--device", "T-0002",
                            "--type", "canteen", "Extra fruit this week please")
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith("request ") and " filed by T-0002;" in second.stdout
        wait_for(lambda: "Extra fruit this week please" in cellbridge(
            "staff", "requests", "list", "--device", "T-0002").stdout, 30, "T-0002's request")
        unknown = cellbridge("demo", "request", "--dir", str(directory), "--device", "T-0099",
                             "hello")
        assert unknown.returncode == 1
        assert unknown.stderr == (f"Error: the demo in {directory} has no tablet 'T-0099' (its "
                                  "tablets: T-0001, T-0002)\n")

        missing = cellbridge("staff", "update", "start", "--id", "r1", "--target",
                             "os/cellbridge-os-9.9.9.raucb", "--version", "9.9.9",
                             "--canary", "T-0002")
        assert missing.returncode == 2
        assert missing.stderr.startswith(
            "Error: the release repository has no target os/cellbridge-os-9.9.9.raucb")


def test_a_request_without_a_running_demo_says_how_to_start_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "demo", "request", "--dir", str(tmp_path / "none"),
         "hello"], env=demo_env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: no running demo in {tmp_path / 'none'}")
    assert "start one with `cellbridge demo --dir" in result.stderr


def through_forwarder(port: int, host: str, origin_ca: Path) -> tuple[int, str, bytes]:
    """CONNECT `host`:443 through a tablet's forwarder, then HTTPS GET / (the origin checked
    against the demo's origin CA): (status, the gateway's refusal reason, the page)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = raw.recv(1)
            if not byte:
                break
            head += byte
        status = int(head.split(b" ")[1])
        reason = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"x-cellbridge-refused:")), "")
        if status != 200:
            return status, reason, b""
        context = ssl.create_default_context(cafile=str(origin_ca))
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            page = b""
            while chunk := tls.recv(65536):
                page += chunk
        return status, reason, page


def forwarder_answers(port: int, origin_ca: Path) -> bool:
    with contextlib.suppress(OSError):
        return through_forwarder(port, "www.gov.uk", origin_ca)[0] == 403
    return False


def demo_staff(out: Path, *args: str) -> str:
    """`cellbridge staff ARGS` against the running demo's gateway (its API from the demo's
    output); its standard output."""
    api = next(line.split("=", 1)[1] for line in out.read_text().splitlines()
               if "export CELLBRIDGE_GATEWAY_API=" in line)
    result = subprocess.run([sys.executable, "-m", "cellbridge", "staff", *args],
                            env={**demo_env(), "CELLBRIDGE_GATEWAY_API": api},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refusal_reasons(out: Path, host: str) -> list[str]:
    """Why the gateway refused `host` to T-0001, from its browsing record."""
    rows = json.loads(demo_staff(out, "web", "log", "--device", "T-0001", "--json"))
    return [r["reason"] for r in rows if r["host"] == host and not r["allowed"]]


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/squid").exists(),
                    reason="the demo's web path needs root (origins on port 443) and Squid")
def test_the_demo_tablet_reaches_its_granted_site_through_squid_and_no_other(
        tmp_path: Path) -> None:
    with running_demo(tmp_path, 1) as (directory, out):
        assert "web       Squid behind the gateway's TLS front" in out.read_text()
        port = tomllib.loads((directory / "tablets" / "T-0001" / "agent.toml").read_text()
                             )["web"]["listen_port"]
        origin_ca = directory / "web" / "origin-ca.pem"
        wait_for(lambda: forwarder_answers(port, origin_ca), 60, "T-0001's forwarder answers")
        # The demo runs on the real clock: in the example policy's curfew nothing is reachable.
        curfew = in_curfew_now()
        status = through_forwarder(port, "findajob.dwp.gov.uk", origin_ca)[0]
        assert status == (403 if curfew else 200)
        # By day (here: the example policy without its curfew) the grant holds.
        demo_staff(out, "policy", "apply", str(open_all_day_policy(tmp_path / "open.toml")))
        status, _, page = through_forwarder(port, "findajob.dwp.gov.uk", origin_ca)
        assert status == 200 and b"<h1>Find a job</h1>" in page
        assert through_forwarder(port, "www.gov.uk", origin_ca)[0] == 403
        assert "not_listed" in refusal_reasons(out, "www.gov.uk")
        if curfew:
            assert "curfew" in refusal_reasons(out, "findajob.dwp.gov.uk")


def test_a_socket_path_too_long_to_bind_is_shortened_the_same_way_every_time(tmp_path: Path) -> None:
    from cellbridge.wing import socket_path

    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5)
    first = socket_path(deep / "tablets" / "T-0001" / "agent.sock")
    assert len(str(first)) < 108  # AF_UNIX's limit
    assert socket_path(deep / "tablets" / "T-0001" / "agent.sock") == first  # the shell finds it
    assert socket_path(deep / "tablets" / "T-0002" / "agent.sock") != first
    assert socket_path(tmp_path / "agent.sock") == tmp_path / "agent.sock"

"""Staff publish the wing policy and set profiles with `cellbridge staff policy`; a real gateway
signs and publishes, a real agent enforces and reports the policy hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.policy_file import load_rules
from tests.policy.conftest import WING, launch
from tests.support.agents import AgentProcess, write_agent_config
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from wire.policy import policy_hash, wing_policy

EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"


@pytest.fixture
def gateway(tmp_path: Path, broker: WingBroker) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path / "gateway", broker.host, broker.port, wing=WING,
                      tablets=[("t1", "C1", "L1"), ("t2", "C1", "L1")],
                      tls=broker.gateway_tls())
    gateway.start()
    yield gateway
    gateway.close()


@pytest.fixture
def tablet(tmp_path: Path, broker: WingBroker, gateway: Gateway) -> Iterator[AgentProcess]:
    config = write_agent_config(
        tmp_path / "t1", device_id="t1", wing=WING, broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[gateway.public_key_path],
        enrolment_bundle=broker.demo.bundle("t1") if broker.demo else None)
    agent = AgentProcess(config)
    agent.start()
    agent.wait_connected()
    yield agent
    agent.kill()


def example_hash() -> str:
    rules = load_rules(EXAMPLE)
    return policy_hash(wing_policy(rules, audience="wing:A", version=1, issued=0, expires=1))


def test_apply_publishes_a_signed_policy_the_tablet_enforces_and_reports(
    gateway: Gateway, tablet: AgentProcess
) -> None:
    result = gateway.cli("policy", "apply", str(EXAMPLE), "--wait", "0")
    assert result.returncode == 0, result.stderr
    assert "published policy version " in result.stdout
    state = tablet.wait_for(lambda s: s.curfew.state != "unknown" and bool(s.apps))
    assert {"listener", "legal"} <= {t.id for t in state.apps if t.always_allowed}

    summary = gateway.staff_json("policy", "show")
    assert summary["hash"] == example_hash() and summary["version"] >= 1
    assert summary["tablets_behind"] == ["t2"]  # t1 reports the hash; t2 was never seen
    audit = gateway.staff_json("audit")["entries"]
    published = [e for e in audit if e["action"] == "policy_publish"]
    assert [e["detail"]["hash"] for e in published] == [example_hash()]


def test_apply_with_wait_names_the_tablets_that_did_not_report(
    gateway: Gateway, tablet: AgentProcess
) -> None:
    result = gateway.cli("policy", "apply", str(EXAMPLE), "--wait", "3")
    assert result.returncode == 1
    assert "not reported within 3s by 1 of 2: t2" in result.stderr


def test_applying_the_same_rules_again_publishes_nothing_new(gateway: Gateway) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    version = gateway.staff_json("policy", "show")["version"]
    again = gateway.cli("policy", "apply", str(EXAMPLE))
    assert f"unchanged: version {version} already has these rules" in again.stdout


def test_a_bad_policy_file_is_refused_before_anything_is_published(
    gateway: Gateway, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('"fri-sat 23:00-08:00"', '"fri-sat 23:00-8"'))
    line = 1 + bad.read_text().splitlines().index(
        next(t for t in bad.read_text().splitlines() if '"fri-sat 23:00-8"' in t))
    result = gateway.cli("policy", "apply", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {bad}:{line}: curfew.windows[2]: ")
    assert gateway.staff_json("policy", "show")["version"] is None


def test_show_prints_the_policy_as_a_file_staff_can_apply_again(
    gateway: Gateway, tmp_path: Path
) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    shown = gateway.cli("policy", "show")
    assert shown.returncode == 0 and "[profiles.enhanced]" in shown.stdout
    copy = tmp_path / "copy.toml"
    copy.write_text(shown.stdout)
    assert "unchanged" in gateway.cli("policy", "apply", str(copy)).stdout


def test_curfew_exceptions_and_lockdowns_are_new_policy_versions(gateway: Gateway) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    first = gateway.staff_json("policy", "show")["version"]
    added = gateway.cli("policy", "curfew", "lockdown", "--name", "Search",
                          "--start", "2026-12-09T08:00", "--end", "2026-12-09T12:00")
    assert added.returncode == 0, added.stderr
    rules = gateway.staff_json("policy", "show")["rules"]
    assert rules["lockdowns"][-1] == {"name": "Search", "start": "2026-12-09T08:00",
                                      "end": "2026-12-09T12:00"}
    backwards = gateway.cli("policy", "curfew", "exception", "--name", "Late",
                              "--start", "2026-12-09T23:00", "--end", "2026-12-09T22:00")
    assert backwards.returncode == 2 and "ends (2026-12-09T22:00) before it starts" in backwards.stderr
    assert gateway.cli("policy", "curfew", "remove", "Search").returncode == 0
    third = gateway.staff_json("policy", "show")
    assert third["version"] > first and third["rules"]["lockdowns"] == load_rules(EXAMPLE)["lockdowns"]
    audit = gateway.staff_json("audit")["entries"]
    assert len([e for e in audit if e["action"] == "policy_publish"]) == 3


def test_a_profile_reaches_the_tablet_in_its_desired_state(
    gateway: Gateway, tablet: AgentProcess, tmp_path: Path
) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    result = gateway.cli("policy", "profile", "enhanced", "--device", "t1")
    assert result.returncode == 0, result.stderr
    assert tablet.wait_for(lambda s: s.profile == "enhanced").locked is False
    unknown = gateway.cli("policy", "profile", "vip", "--device", "t1")
    assert unknown.returncode == 2 and "unknown profile 'vip'" in unknown.stderr
    entries = gateway.staff_json("audit")["entries"]
    assert [e["action"] for e in entries if "profile" in e["action"]] == [
        "profile", "profile_refused"]


def test_the_policy_outlives_a_gateway_restart_and_is_published_again(
    gateway: Gateway, broker: WingBroker, tablet: AgentProcess
) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    tablet.wait_for(lambda s: bool(s.apps))
    gateway.stop()
    broker.kill()
    broker.start()  # the retained policy is gone from the broker
    gateway.start()
    assert gateway.staff_json("policy", "show")["hash"] == example_hash()
    late = AgentProcess(write_agent_config(
        tablet.directory.parent / "t2", device_id="t2", wing=WING, broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[gateway.public_key_path],
        enrolment_bundle=broker.demo.bundle("t2") if broker.demo else None))
    try:
        late.start()
        assert late.wait_for(lambda s: bool(s.apps), timeout=20).apps
    finally:
        late.kill()


def test_curfew_status_answers_by_the_gateways_clock(gateway: Gateway) -> None:
    assert gateway.cli("policy", "curfew", "status").returncode == 2  # no policy yet
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    answer = gateway.staff_json("policy", "curfew", "status", "--profile", "basic")
    assert answer["state"] in {"open", "warning", "curfew", "lockdown"}
    apps = {a["app"]: a["allowed"] for a in answer["apps"]}
    assert set(apps) == {"canteen", "education", "legal", "listener"}
    assert apps["listener"] and apps["legal"]
    text = gateway.cli("policy", "curfew", "status")
    assert text.returncode == 0 and "standard may use now:" in text.stdout


def test_an_app_signed_by_the_gateway_launches_on_the_tablet(
    gateway: Gateway, tablet: AgentProcess
) -> None:
    folder = tablet.state_dir / "apps" / "listener"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "run").write_text("#!/bin/sh\necho listener\n")
    (folder / "bin" / "run").chmod(0o755)
    (folder / "numbers.txt").write_text("Samaritans 116 123\n")
    signed = gateway.cli("policy", "sign-app", str(folder), "--app", "listener",
                           "--version", "2.1.0", "--entry", "bin/run")
    assert signed.returncode == 0, signed.stderr
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    tablet.wait_for(lambda s: s.trusted_time is not None and bool(s.apps))
    reply = launch(tablet, "listener")
    assert (reply.ok, reply.argv) == (True, (str((folder / "bin" / "run").resolve()),))
    assert any(e["action"] == "app_sign" for e in gateway.staff_json("audit")["entries"])


def test_a_manifest_whose_entry_is_not_among_its_files_is_not_signed(
    gateway: Gateway, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "data").write_text("x")
    result = gateway.cli("policy", "sign-app", str(tmp_path / "app"), "--app", "listener",
                           "--version", "1.0", "--entry", "bin/run")
    assert result.returncode == 2 and "entry 'bin/run' is not among the listed files" in result.stderr
    assert not (tmp_path / "app" / "manifest.json").exists()


def test_a_damaged_policy_file_on_the_gateway_is_audited_and_nothing_is_published(
    gateway: Gateway
) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    gateway.stop()
    (gateway.state_dir / "wing-policy.envelope").write_bytes(b'{"body": "{not json')
    gateway.start()
    assert gateway.staff_json("policy", "show")["version"] is None
    actions = [e["action"] for e in gateway.staff_json("audit")["entries"]]
    assert "policy_unreadable" in actions

def test_after_losing_its_policy_file_the_gateway_still_issues_a_version_tablets_accept(
    gateway: Gateway, tablet: AgentProcess, tmp_path: Path
) -> None:
    assert gateway.cli("policy", "apply", str(EXAMPLE)).returncode == 0
    tablet.wait_for(lambda s: bool(s.apps))
    gateway.stop()
    (gateway.state_dir / "wing-policy.envelope").unlink()
    gateway.start()
    changed = tmp_path / "changed.toml"
    standard = '[profiles.standard]\napps = ["education", "canteen", "music"]'
    assert standard in EXAMPLE.read_text()
    changed.write_text(EXAMPLE.read_text().replace(
        standard, '[profiles.standard]\napps = ["education", "music"]'))
    assert gateway.cli("policy", "apply", str(changed)).returncode == 0
    state = tablet.wait_for(lambda s: "canteen" not in {t.id for t in s.apps})
    assert {"education", "music"} <= {t.id for t in state.apps}


def test_a_policy_too_large_for_the_tablets_is_refused_before_anything_is_published(
    gateway: Gateway,
) -> None:
    import httpx

    from wire.policy import WingPolicy

    rules = load_rules(EXAMPLE)
    rules["apps"] = {**rules["apps"], **{
        f"app{n:04}": {"name": "x" * 120, "version": "1.0"} for n in range(2000)}}
    transport = httpx.HTTPTransport(uds=str(gateway.api_socket))
    with httpx.Client(transport=transport, base_url="http://gateway", timeout=30) as client:
        answer = client.post("/v1/policy", json={"rules": rules, "by": "officer"})
    assert answer.status_code == 422
    assert f"cap {WingPolicy.MAX_BYTES}" in answer.json()["detail"]
    assert gateway.staff_json("policy", "show")["version"] is None
    audit = gateway.staff_json("audit")["entries"]
    assert [e["action"] for e in audit if e["action"].startswith("policy_")] == ["policy_refused"]


def test_a_manifest_too_large_for_the_tablets_is_not_signed(gateway: Gateway) -> None:
    import httpx

    from wire.manifest import AppManifest

    files = {f"{'d' * 200}/{n:04}": "0" * 64 for n in range(4000)}
    body = {"app": "listener", "app_version": "1.0", "entry": next(iter(files)), "files": files,
            "by": "officer"}
    transport = httpx.HTTPTransport(uds=str(gateway.api_socket))
    with httpx.Client(transport=transport, base_url="http://gateway", timeout=30) as client:
        answer = client.post("/v1/apps/manifest", json=body)
    assert answer.status_code == 422
    assert f"cap {AppManifest.MAX_BYTES}" in answer.json()["detail"]
    audit = gateway.staff_json("audit")["entries"]
    assert [e["action"] for e in audit if e["action"].startswith("app_sign")] == [
        "app_sign_refused"]

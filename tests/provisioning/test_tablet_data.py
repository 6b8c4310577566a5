"""`cellbridge provision tablet-data`: what IT writes onto a tablet's data partition before its
first boot — the enrolment bundle, the agent's configuration and the firewall's one peer — and
that the image's own readers (the agent's config loader, `network-policy`) take them."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest

from agent.config import load_config
from provisioning import estate as est
from provisioning import tablet_data as td
from tests.provisioning.conftest import tree_digest
from tests.provisioning.test_cli import ok, run
from tests.provisioning.test_identity_in_service import estate_gateway
from tests.support.agents import AgentProcess

REPO = Path(__file__).resolve().parents[2]
NETWORK_POLICY = REPO / "buildroot/board/common/rootfs-overlay/usr/libexec/cellbridge/network-policy"
ROOT_PIN = "ab" * 32


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """An estate with wing w1 whose gateway tablets reach at 10.20.0.1, tablets T1 and T2."""
    root = tmp_path / "estate"
    ok(run(root, "init", "--name", "HMP Test"))
    ok(run(root, "wing", "--wing", "w1", "--broker-host", "10.20.0.1",
           "--broker-dir", str(tmp_path / "broker-w1")))
    batch = tmp_path / "first.csv"
    batch.write_text("tablet_id,wing,cell\nT1,w1,1-01\nT2,w1,1-02\n")
    ok(run(root, "enrol", "--batch", str(batch)))
    return root


def plan(**changes) -> td.TabletPlan:
    facts = dict(tablet_id="T1", wing="w1", broker_host="10.20.0.1", broker_port=8883,
                 repository_port=8443, root_sha256=ROOT_PIN, key_in_bundle=True)
    return td.check_plan(**{**facts, **changes})


def test_the_agent_config_takes_its_identity_from_the_bundle_pinned_to_the_estate_root():
    config = td.agent_config(plan())
    assert config["enrolment_bundle"] == "/var/lib/cellbridge/enrolment/bundle"
    assert config["estate_root_sha256"] == ROOT_PIN
    assert (config["device_id"], config["wing"]) == ("T1", "w1")
    assert "broker" not in config and "identity_key" not in config


def test_the_agent_config_uses_the_images_folders():
    config = td.agent_config(plan())
    assert config["state_dir"] == "/var/lib/cellbridge/agent"
    assert config["socket"] == "/run/cellbridge/agent.sock"
    assert config["apps_dir"] == "/var/lib/cellbridge/apps"
    assert config["user_data_dirs"] == ["/var/lib/cellbridge/shell"]
    assert config["reboot_command"] == ["systemctl", "reboot"]


def test_a_tablet_that_made_its_own_key_names_where_enrol_request_keeps_it():
    config = td.agent_config(plan(key_in_bundle=False))
    assert config["identity_key"] == "/var/lib/cellbridge/identity/tablet.key"


def test_updates_come_from_the_gateways_repository_checked_against_the_wing_ca():
    updates = td.agent_config(plan(board="qemu-aarch64"))["updates"]
    assert updates["repository_url"] == "https://10.20.0.1:8443"
    assert updates["ca_file"] == "/var/lib/cellbridge/enrolment/bundle/ca.pem"
    assert updates["compatible"] == "cellbridge-qemu-aarch64"
    assert updates["root_file"] == "/etc/cellbridge/tuf/root.json"


def test_a_tablet_without_updates_has_no_updates_section_and_no_repository_port():
    without = plan(board=None)
    assert "updates" not in td.agent_config(without)
    assert td.network_env(without) == "GATEWAY_ADDR=10.20.0.1\nGATEWAY_PORTS=8883\n"


def test_the_firewall_opens_to_the_broker_and_the_repository_of_the_gateway():
    assert td.network_env(plan()) == "GATEWAY_ADDR=10.20.0.1\nGATEWAY_PORTS=8883,8443\n"


def test_a_broker_named_by_host_name_needs_the_gateways_address():
    with pytest.raises(td.TabletDataError, match=r"not an IPv4 address.*give --gateway-addr"):
        plan(broker_host="gateway.wing-a")


def test_a_given_gateway_address_is_also_where_the_agent_dials_the_broker():
    given = plan(broker_host="gateway.wing-a", gateway_addr="10.20.0.7")
    assert td.agent_config(given)["broker"] == {"host": "10.20.0.7", "port": 8883}
    assert td.network_env(given).startswith("GATEWAY_ADDR=10.20.0.7\n")


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255"])
def test_an_address_no_tablet_can_have_as_its_peer_is_refused(address):
    with pytest.raises(td.TabletDataError, match="cannot be a tablet's peer"):
        plan(gateway_addr=address)


def test_an_unknown_board_is_refused_naming_the_known_ones():
    with pytest.raises(td.TabletDataError, match=r"unknown board 'pi5' \(known: qemu-aarch64, rpi4\)"):
        plan(board="pi5")


def test_network_env_is_read_by_the_images_own_firewall_script(tmp_path):
    env = tmp_path / "network.env"
    env.write_text(td.network_env(plan()))
    ask = lambda what: subprocess.run(  # noqa: E731
        ["sh", str(NETWORK_POLICY), what, str(env)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert ask("gateway") == ["10.20.0.1"]
    assert ask("ports") == ["8883", "8443"]


def test_the_cli_writes_bundle_config_and_network_private_to_root(estate, tmp_path):
    out = tmp_path / "card"
    result = ok(run(estate, "tablet-data", "--device", "T1", "--out", str(out), "--json"))
    said = json.loads(result.output)
    assert said == {"tablet": "T1", "wing": "w1", "enrolment": str(out / "enrolment"),
                    "gateway": "10.20.0.1", "ports": [8883, 8443], "updates": "cellbridge-rpi4"}
    enrolment = out / "enrolment"
    assert stat.S_IMODE(enrolment.stat().st_mode) == 0o700
    assert stat.S_IMODE((enrolment / "bundle" / "tablet.key").stat().st_mode) == 0o600
    assert tree_digest(enrolment / "bundle") == tree_digest(Path(estate) / "bundles" / "T1")
    config = tomllib.loads((enrolment / "agent.toml").read_text())
    assert config["device_id"] == "T1"
    assert (enrolment / "network.env").read_text() == (
        "GATEWAY_ADDR=10.20.0.1\nGATEWAY_PORTS=8883,8443\n")


def test_the_cli_says_in_one_line_what_it_wrote(estate, tmp_path):
    result = ok(run(estate, "tablet-data", "--device", "T2", "--out", str(tmp_path / "c"),
                    "--no-updates"))
    assert result.output == (
        f"tablet T2 (wing w1): {tmp_path / 'c' / 'enrolment'} written; firewall open to "
        "10.20.0.1 ports 8883; no updates\n")


def test_the_wings_repository_port_is_the_one_the_tablet_is_opened_to(tmp_path):
    root = tmp_path / "estate"
    ok(run(root, "init", "--name", "HMP Test"))
    ok(run(root, "wing", "--wing", "w2", "--broker-host", "10.30.0.1", "--repository-port",
           "9443", "--broker-dir", str(tmp_path / "b")))
    ok(run(root, "enrol", "--batch", str(_batch(tmp_path, "R1,w2,2-01"))))
    ok(run(root, "tablet-data", "--device", "R1", "--out", str(tmp_path / "card")))
    env = (tmp_path / "card" / "enrolment" / "network.env").read_text()
    assert env == "GATEWAY_ADDR=10.30.0.1\nGATEWAY_PORTS=8883,9443\n"


def test_a_wing_whose_repository_and_broker_share_a_port_is_refused(tmp_path):
    root = tmp_path / "estate"
    ok(run(root, "init", "--name", "HMP Test"))
    result = run(root, "wing", "--wing", "w3", "--repository-port", "8883")
    assert result.exit_code == 1
    assert "the repository and the broker cannot share port 8883" in result.output


def _batch(tmp_path: Path, row: str) -> Path:
    path = tmp_path / "batch.csv"
    path.write_text(f"tablet_id,wing,cell\n{row}\n")
    return path


def test_an_unknown_tablet_is_refused_and_nothing_is_written(estate, tmp_path):
    out = tmp_path / "card"
    result = run(estate, "tablet-data", "--device", "T9", "--out", str(out))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: unknown tablet 'T9': enrol it first"
    assert not out.exists()


def test_a_revoked_tablet_gets_no_data(estate, tmp_path):
    ok(run(estate, "revoke", "--device", "T2", "--reason", "lost",
           "--broker-dir", str(tmp_path / "broker-w1")))
    result = run(estate, "tablet-data", "--device", "T2", "--out", str(tmp_path / "card"))
    assert result.exit_code == 1
    assert "Error: tablet T2 is revoked, not active" in result.output
    assert not (tmp_path / "card").exists()


def test_a_tampered_bundle_is_refused_in_one_line_and_nothing_is_written(estate, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(Path(estate) / "bundles" / "T1", bundle)
    info = bundle / "enrolment.json"
    info.write_text(info.read_text().replace("10.20.0.1", "10.66.0.1"))
    result = run(estate, "tablet-data", "--device", "T1", "--bundle", str(bundle),
                 "--out", str(tmp_path / "card"))
    assert result.exit_code == 1
    assert "enrolment.json does not match its manifest hash" in result.output
    assert not (tmp_path / "card").exists()


def test_another_tablets_bundle_is_refused(estate, tmp_path):
    result = run(estate, "tablet-data", "--device", "T1", "--bundle",
                 str(Path(estate) / "bundles" / "T2"), "--out", str(tmp_path / "card"))
    assert result.exit_code == 1
    assert "is for tablet 'T2' in wing 'w1', not 'T1'" in result.output


def test_an_existing_enrolment_folder_is_never_overwritten(estate, tmp_path):
    out = tmp_path / "card"
    ok(run(estate, "tablet-data", "--device", "T1", "--out", str(out)))
    before = tree_digest(out)
    result = run(estate, "tablet-data", "--device", "T2", "--out", str(out))
    assert result.exit_code == 1
    assert "exists already: it may hold another tablet's identity" in result.output
    assert tree_digest(out) == before


def test_the_written_config_is_one_the_agent_loads_with_the_bundle_checked(tmp_path):
    """Laid out under a stand-in mount, the written agent.toml passes the agent's own loader,
    which checks the copied bundle whole against the pinned root."""
    estate = est.init_estate(tmp_path / "estate", "Test", None)
    est.create_wing(estate, "w1", None, broker_host="10.20.0.1")
    est.enrol(estate, [est.EnrolRequest("T1", "w1", "1-01")], None, enrolled_by="it")
    mount = tmp_path / "data"
    found = td.plan_for(estate, "T1", estate.bundles / "T1")
    laid = replace(found, data_mount=PurePosixPath(mount), runtime_dir=PurePosixPath(tmp_path))
    td.write_tablet_data(estate.bundles / "T1", mount, laid)
    config = load_config(mount / "enrolment" / "agent.toml")
    assert config.broker.host == "10.20.0.1" and config.broker.tls is not None
    assert config.broker.tls.key == mount / "enrolment" / "bundle" / "tablet.key"
    assert config.updates is not None and config.updates.compatible == "cellbridge-rpi4"


def test_an_agent_on_the_written_data_takes_a_staff_lock_over_mutual_tls(tmp_path, broker):
    """The written config, run by the real agent against the wing's real broker and gateway."""
    demo = broker.demo
    demo.bundle("D1")  # enrols D1 in the demo estate
    mount = tmp_path / "data"
    found = td.plan_for(demo.estate, "D1", demo.bundle("D1"), gateway_addr="10.0.0.9",
                        board=None)
    # The test broker listens on loopback, which `check_plan` rightly refuses for a tablet.
    laid = replace(found, gateway_addr=broker.host, broker_port=broker.port,
                   data_mount=PurePosixPath(mount), runtime_dir=PurePosixPath(tmp_path))
    td.write_tablet_data(demo.bundle("D1"), mount, laid)
    gateway = estate_gateway(tmp_path, broker, [("D1", "C1", "N1")]).start()
    agent = AgentProcess(mount / "enrolment" / "agent.toml")
    try:
        agent.start().wait_connected()
        result = gateway.staff("lock", "--device", "D1", "--reason", "search", "--wait", "20")
        assert result.returncode == 0, result.stderr
        assert agent.wait_for(lambda s: s.lock.locked).lock.reason == "search"
    finally:
        agent.kill()
        gateway.close()

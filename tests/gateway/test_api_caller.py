"""Who did it is the OS account on the other end of the API socket, not what `--by` says; and only
the staff group may connect at all (issue 13, defect 9)."""

from __future__ import annotations

import grp
import uuid
from pathlib import Path

from common.staff_identity import recorded_by
from tests.support.gateway import Gateway
from tests.support.os_accounts import as_account, needs_root


def staff_entries(gateway: Gateway) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in gateway.staff_json("audit")["entries"]
            if e["actor"].startswith("staff:")]


@needs_root
def test_the_audit_names_the_os_account_that_acted_and_keeps_by_only_as_a_note(
        make_gateway, staff_group, make_account):
    gateway = make_gateway(tablets=[("T1", "1", "A")], api_group=staff_group)
    alice = make_account(staff_group)
    result = as_account(alice, gateway, "staff", "lock", "--device", "T1", "--reason",
                        "search", "--by", "officer.smith")
    assert "Traceback" not in result.stderr, result.stderr
    assert staff_entries(gateway) == [(f"staff:os:{alice.name} (officer.smith)", "lock")]
    # Without --by the CLI sends the account's own name: nothing beside the verified one.
    as_account(alice, gateway, "staff", "unlock", "--device", "T1", "--reason", "done")
    assert staff_entries(gateway)[-1] == (f"staff:os:{alice.name}", "unlock")


@needs_root
def test_an_account_outside_the_staff_group_cannot_connect(make_gateway, staff_group,
                                                           make_account):
    gateway = make_gateway(tablets=[("T1", "1", "A")], api_group=staff_group)
    mallory = make_account()
    result = as_account(mallory, gateway, "staff", "lock", "--device", "T1", "--reason", "x",
                        "--by", "officer.smith")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not readable" in result.stderr or "Permission denied" in result.stderr, result.stderr
    assert staff_entries(gateway) == []


@needs_root
def test_the_socket_belongs_to_the_staff_group_mode_0660(make_gateway, staff_group):
    gateway = make_gateway(api_group=staff_group)
    info = gateway.api_socket.stat()
    assert info.st_mode & 0o777 == 0o660
    assert info.st_gid == grp.getgrnam(staff_group).gr_gid


def test_without_the_staff_group_the_socket_is_the_gateways_own_mode_0600(make_gateway):
    gateway = make_gateway(api_group=f"no-such-group-{uuid.uuid4().hex[:6]}")
    assert gateway.api_socket.stat().st_mode & 0o777 == 0o600
    assert "no group" in Path(gateway.log_path).read_text()
    assert gateway.cli("status").returncode == 0  # its own account still may


def test_what_is_recorded_is_the_verified_account_with_a_differing_note_beside_it():
    assert recorded_by("alice", None) == "os:alice"
    assert recorded_by("alice", "alice") == "os:alice"
    assert recorded_by("alice", "officer.smith") == "os:alice (officer.smith)"
    long = recorded_by("alice", "x" * 120)
    assert len(long) == 120 and long.startswith("os:alice (xxx") and long.endswith("…)")

"""`cellbridge staff account` against a real gateway process: the first admin from the gateway
host, a lost factor reset, an account disabled; every change audited with who ran it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from gateway.staff.client import operator
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from tests.support.os_accounts import (  # noqa: F401  (fixtures)
    MakeAccount,
    as_account,
    make_account,
    needs_root,
    staff_group,
)


@pytest.fixture
def gateway(tmp_path: Path, broker: WingBroker) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path / "gw", broker.host, broker.port, tls=broker.gateway_tls(),
                      tablets=[("T1", "C1", "L1")])
    yield gateway.start()
    gateway.close()


@needs_root
def test_account_changes_name_the_os_account_that_ran_them_and_keep_by_as_a_note(
        tmp_path: Path, broker: WingBroker, staff_group: str,  # noqa: F811
        make_account: MakeAccount) -> None:  # noqa: F811
    gateway = Gateway(tmp_path / "gw2", broker.host, broker.port, tls=broker.gateway_tls(),
                      tablets=[("T1", "C1", "L1")], api_group=staff_group).start()
    try:
        alice = make_account(staff_group)
        steps = [("add", "ann", "--display", "Ann", "--roles", "officer", "--by", "root"),
                 ("reset", "ann", "--by", "someone.else"), ("disable", "ann")]
        for step in steps:
            result = as_account(alice, gateway, "staff", "account", *step)
            assert result.returncode == 0, result.stderr
        entries = gateway.staff_json("audit")["entries"]
        assert [(e["actor"], e["action"]) for e in entries
                if e["action"].startswith("account_")] == [
            (f"staff:os:{alice.name} (root)", "account_add"),
            (f"staff:os:{alice.name} (someone.else)", "account_reset"),
            (f"staff:os:{alice.name}", "account_disable")]
    finally:
        gateway.close()


def test_the_first_admin_is_made_reset_and_disabled_from_the_gateway_host(
        gateway: Gateway, tmp_path: Path) -> None:
    added = gateway.staff_json("account", "add", "root", "--display", "Root Admin", "--roles",
                               "admin")
    assert added["name"] == "root" and len(added["password"]) >= 16
    assert pyotp.parse_uri(added["totp_uri"]).secret  # admin: a second factor is enrolled

    shown = gateway.staff("account", "add", "ann", "--display", "Ann", "--roles", "officer")
    assert shown.returncode == 0, shown.stderr
    assert "one-time password" in shown.stdout and "TOTP" not in shown.stdout

    svg = tmp_path / "sec.svg"
    made = gateway.staff("account", "add", "sec", "--display", "Sec", "--roles",
                         "security,officer", "--qr-svg", str(svg))
    assert made.returncode == 0, made.stderr
    assert svg.read_text().startswith("<svg") and svg.stat().st_mode & 0o077 == 0

    terminal = gateway.staff("account", "reset", "sec")
    assert terminal.returncode == 0 and "█" in terminal.stdout  # the QR code as text

    assert gateway.staff("account", "disable", "ann").returncode == 0
    listing = {a["name"]: a for a in gateway.staff_json("account", "list")}
    assert listing["ann"]["disabled"] is True
    assert listing["root"]["roles"] == ["admin"] and listing["root"]["totp"] is True
    assert listing["sec"]["roles"] == ["officer", "security"]

    entries = gateway.staff_json("audit")["entries"]
    who = f"staff:os:{operator()}"  # the OS account, from the socket's peer credentials
    assert [(e["actor"], e["action"], e["target"]) for e in entries
            if e["action"].startswith("account_")] == [
        (who, "account_add", "staff:root"), (who, "account_add", "staff:ann"),
        (who, "account_add", "staff:sec"), (who, "account_reset", "staff:sec"),
        (who, "account_disable", "staff:ann")]
    assert all(added["password"] not in str(e) for e in entries)


def test_refused_input_is_one_line_and_exit_2(gateway: Gateway) -> None:
    unknown_role = gateway.staff("account", "add", "bob", "--display", "Bob", "--roles", "warden")
    assert unknown_role.returncode == 2 and "unknown role" in unknown_role.stderr
    missing = gateway.staff("account", "reset", "nobody")
    assert missing.returncode == 2 and "no account nobody" in missing.stderr
    gateway.staff_json("account", "add", "bob", "--display", "Bob", "--roles", "it")
    twice = gateway.staff("account", "add", "bob", "--display", "Bob", "--roles", "it")
    assert twice.returncode == 2 and "already exists" in twice.stderr
    bad_name = gateway.staff("account", "add", "Bob Smith", "--display", "B", "--roles", "it")
    assert bad_name.returncode == 2 and len(bad_name.stderr.strip().splitlines()) == 1

"""`cellbridge prison account add | reset | disable | list` on the prison store, once with SQLite
and once with a real PostgreSQL server: the one-time password and TOTP enrolment printed once,
refusals with exit 2, and every change recorded as the OS account that ran it."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp
import pytest
import tomli_w
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.staff_identity import os_account
from common.staff_web.accounts import SignInRefused, totp_now
from prison.cli import prison
from prison.config import PrisonConfig
from prison.console.accounts import prison_account_book
from prison.staff_events import newest as events
from prison.store import open_store
from wire.envelope import private_key_to_pem


@pytest.fixture
def config_file(tmp_path: Path, store_location: tuple[Path, str | None]) -> Path:
    key = tmp_path / "signing.key"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    config = PrisonConfig(prison="P", state_dir=store_location[0].parent, signing_key=key,
                          wings=["A"], postgresql=store_location[1])
    path = tmp_path / "prison.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    return path


def run(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(prison, ["account", *args, "--config", str(config_file)])


def test_an_account_is_added_with_a_one_time_password_and_totp_and_recorded_as_who_ran_it(
        config_file: Path, store_location: tuple[Path, str | None]) -> None:
    made = run(config_file, "add", "alice", "--display", "Alice A", "--roles", "security",
               "--json")
    assert made.exit_code == 0, made.output
    enrolment = json.loads(made.output)
    assert enrolment["name"] == "alice" and len(enrolment["password"]) >= 16
    secret = pyotp.parse_uri(enrolment["totp_uri"]).secret
    listed = run(config_file, "list", "--json")
    assert [(a["name"], a["roles"], a["totp"], a["must_change"])
            for a in json.loads(listed.output)] == [("alice", ["security"], True, True)]
    store = open_store(*store_location)
    try:
        book = prison_account_book(store)
        now = 1_800_000_000_000
        signed = book.sign_in("alice", enrolment["password"], totp_now(secret, now), now)
        assert signed.account is not None and signed.account.must_change
        assert [(e.actor, e.action, e.target) for e in events(store)][-1:] == [
            (f"staff:os:{os_account()}", "account_add", "staff:alice")]
    finally:
        store.close()


def test_an_officer_gets_no_second_factor_and_the_text_listing_shows_it(
        config_file: Path) -> None:
    made = run(config_file, "add", "olly", "--display", "Olly", "--roles", "officer")
    assert made.exit_code == 0, made.output
    assert "one-time password" in made.output and "TOTP" not in made.output
    listed = run(config_file, "list")
    assert listed.output.split("\n")[1].split() == ["olly", "Olly", "officer", "active", "no"]


def test_a_taken_name_an_unknown_role_and_an_unknown_account_are_refused(
        config_file: Path) -> None:
    assert run(config_file, "add", "alice", "--display", "A", "--roles", "officer").exit_code == 0
    taken = run(config_file, "add", "alice", "--display", "A", "--roles", "officer")
    assert (taken.exit_code, taken.output) == (2, "Error: account alice already exists\n")
    role = run(config_file, "add", "bob", "--display", "B", "--roles", "warden")
    assert role.exit_code == 2 and "unknown role 'warden'" in role.output
    assert run(config_file, "add", "Bad Name", "--display", "B", "--roles",
               "officer").exit_code == 2
    assert run(config_file, "disable", "nobody").exit_code == 2


def test_a_disabled_account_cannot_sign_in_and_a_reset_replaces_its_password(
        config_file: Path, store_location: tuple[Path, str | None]) -> None:
    first = json.loads(run(config_file, "add", "olly", "--display", "Olly", "--roles",
                           "officer", "--json").output)
    reset = run(config_file, "reset", "olly", "--json")
    assert reset.exit_code == 0, reset.output
    second = json.loads(reset.output)
    assert run(config_file, "disable", "olly").exit_code == 0
    store = open_store(*store_location)
    try:
        book = prison_account_book(store)
        assert book.sign_in("olly", first["password"], "", 1).refused is SignInRefused.PASSWORD
        assert book.sign_in("olly", second["password"], "", 2).refused is SignInRefused.DISABLED
    finally:
        store.close()

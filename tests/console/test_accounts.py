"""Staff accounts in the gateway's database: argon2id hashes, TOTP once per code for security and
admin, five failures lock the account for 15 minutes, every change audited."""

from __future__ import annotations

import pyotp
import pytest
from argon2 import Type, extract_parameters

from common.staff_web.accounts import (
    LOCKOUT_MS,
    MAX_FAILURES,
    AccountError,
    SignInRefused,
    totp_now,
)
from common.staff_web.roles import Role
from gateway.console.app import build_console
from gateway.console.web import Console
from gateway.service import GatewayService
from tests.console.conftest import make_staff


def audit_actions(console: Console) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in console.service.store.audit_entries()]


def test_an_account_is_stored_with_an_argon2id_hash_never_the_password(console: Console) -> None:
    enrolment = console.book.add("ann", "Ann Smith", frozenset({Role.OFFICER}), "staff:root",
                                 console.clock())
    rows = console.service.store.read("SELECT password_hash FROM staff_accounts WHERE name='ann'")
    assert rows[0][0].startswith("$argon2id$")
    assert enrolment.password not in rows[0][0]
    assert enrolment.totp_uri is None  # an officer needs no second factor
    assert console.book.get("ann").must_change  # type: ignore[union-attr]
    assert ("staff:root", "account_add", "staff:ann") in audit_actions(console)


def test_a_gateways_console_hashes_at_argon2_cffis_default_cost(service: GatewayService) -> None:
    """What `gateway run` builds (these tests' in-process consoles use a cheaper hasher)."""
    console = build_console(service)
    enrolment = console.book.add("ann", "Ann Smith", frozenset({Role.OFFICER}), "staff:root",
                                 console.clock())
    [(stored,)] = service.store.read("SELECT password_hash FROM staff_accounts WHERE name='ann'")
    parameters = extract_parameters(stored)
    assert (parameters.type, parameters.time_cost, parameters.memory_cost,
            parameters.parallelism) == (Type.ID, 3, 65536, 4)
    assert console.book.sign_in("ann", enrolment.password, "", console.clock()).account
    assert console.book.sign_in("bob", enrolment.password, "", console.clock()).refused \
        is SignInRefused.UNKNOWN


@pytest.mark.parametrize("role", [Role.SECURITY, Role.ADMIN])
def test_security_and_admin_are_enrolled_with_totp_and_cannot_sign_in_without_it(
        console: Console, role: Role) -> None:
    staff = make_staff(console, "sam", role)
    assert staff.totp_secret is not None
    now = console.clock()
    assert console.book.sign_in("sam", staff.password, "", now).refused is SignInRefused.CODE
    assert console.book.sign_in("sam", staff.password, "000000" if staff.code(console) != "000000"
                                else "111111", now).refused is SignInRefused.CODE
    assert console.book.sign_in("sam", staff.password, staff.code(console), now).account


def test_a_totp_code_is_accepted_once(console: Console) -> None:
    staff = make_staff(console, "sec", Role.SECURITY)
    now = console.clock()
    code = totp_now(staff.totp_secret or "", now)
    assert console.book.sign_in("sec", staff.password, code, now).account is not None
    assert console.book.sign_in("sec", staff.password, code, now).refused is SignInRefused.CODE


def test_a_code_in_other_digits_than_ascii_is_refused(console: Console) -> None:
    """Superscript or Arabic-Indic digits are digits to str.isdigit(), and pyotp would read
    "²" as "2" (NFKC): only the code as an authenticator shows it is a code."""
    staff = make_staff(console, "sec", Role.SECURITY)
    now = console.clock()
    code = totp_now(staff.totp_secret or "", now)
    lookalike = code.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    assert console.book.sign_in("sec", staff.password, lookalike, now).refused is \
        SignInRefused.CODE


def test_five_failures_lock_the_account_for_fifteen_minutes_audited(console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    now = console.clock()
    for _ in range(MAX_FAILURES):
        assert console.book.sign_in("ann", "wrong password", "", now).refused is \
            SignInRefused.PASSWORD
    assert ("system", "account_locked", "staff:ann") in audit_actions(console)
    # Locked: even the right password is refused until the 15 minutes are over.
    assert console.book.sign_in("ann", staff.password, "", now + 1000).refused is \
        SignInRefused.LOCKED_OUT
    assert console.book.sign_in("ann", staff.password, "", now + LOCKOUT_MS - 1).refused is \
        SignInRefused.LOCKED_OUT
    assert console.book.sign_in("ann", staff.password, "", now + LOCKOUT_MS).account is not None


def test_failures_are_counted_in_a_row_a_success_starts_again(console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    now = console.clock()
    for _ in range(MAX_FAILURES - 1):
        console.book.sign_in("ann", "wrong password", "", now)
    assert console.book.sign_in("ann", staff.password, "", now).account is not None
    for _ in range(MAX_FAILURES - 1):
        console.book.sign_in("ann", "wrong password", "", now)
    assert console.book.sign_in("ann", staff.password, "", now).account is not None


def test_a_disabled_account_cannot_sign_in(console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    console.book.set_disabled("ann", True, "staff:root", console.clock())
    assert console.book.sign_in("ann", staff.password, "", console.clock()).refused is \
        SignInRefused.DISABLED
    assert ("staff:root", "account_disable", "staff:ann") in audit_actions(console)


def test_reset_gives_a_new_one_time_password_and_a_new_second_factor(console: Console) -> None:
    staff = make_staff(console, "sec", Role.SECURITY)
    enrolment = console.book.reset("sec", "staff:root", console.clock())
    assert enrolment.totp_uri and staff.totp_secret
    assert staff.totp_secret not in enrolment.totp_uri
    now = console.clock()
    assert console.book.sign_in("sec", staff.password, staff.code(console), now).account is None
    secret = pyotp.parse_uri(enrolment.totp_uri).secret
    signed = console.book.sign_in("sec", enrolment.password, totp_now(secret, now), now).account
    assert signed is not None and signed.must_change
    assert ("staff:root", "account_reset", "staff:sec") in audit_actions(console)


def test_an_unknown_name_is_refused_and_audited(console: Console) -> None:
    assert console.book.sign_in("nobody", "x" * 12, "", console.clock()).refused is \
        SignInRefused.UNKNOWN
    assert ("staff:nobody", "sign_in_failed", "staff:nobody") in audit_actions(console)


def test_a_new_password_must_be_long_enough(console: Console) -> None:
    enrolment = console.book.add("ann", "Ann", frozenset({Role.OFFICER}), "staff:root",
                                 console.clock())
    with pytest.raises(AccountError, match="12 characters"):
        console.book.change_password("ann", enrolment.password, "short", console.clock())
    with pytest.raises(AccountError, match="not right"):
        console.book.change_password("ann", "wrong", "long enough password", console.clock())


def test_a_name_is_taken_once(console: Console) -> None:
    make_staff(console, "ann", Role.OFFICER)
    with pytest.raises(AccountError, match="already exists"):
        console.book.add("ann", "Ann", frozenset({Role.IT}), "staff:root", console.clock())

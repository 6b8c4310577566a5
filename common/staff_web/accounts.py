"""Staff accounts: table `staff_accounts` in the console's own store (the wing gateway's SQLite,
the prison store's SQLite or PostgreSQL), every change in one transaction with the audit event that
records it. The store is reached through `AccountStore`, a small protocol each console implements
over its database (the SQL here is the dialect both SQLite and PostgreSQL accept, `?` parameters).

Passwords are argon2id hashes (`argon2-cffi`); the second factor is TOTP (`pyotp`), required for the
roles in `roles.NEEDS_TOTP`, and a code is accepted once. Five failed sign-ins in a row lock the
account for 15 minutes. Synchronous: a console calls it off its event loop.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.staff_web.roles import Role, needs_totp

MAX_FAILURES = 5
LOCKOUT_MS = 15 * 60 * 1000
MIN_PASSWORD = 12
ISSUER = "Cellbridge"
NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,31}$"

PRODUCTION_HASHER = PasswordHasher()
"""argon2-cffi's defaults (argon2id, t=3, m=64 MiB, p=4): what every gateway uses. Only the
in-process console tests hand an `AccountBook` a cheaper one (same algorithm, lower cost)."""


TABLE = (
    "CREATE TABLE {if_not_exists}staff_accounts ("
    " name TEXT PRIMARY KEY, display TEXT NOT NULL, roles TEXT NOT NULL,"
    " password_hash TEXT NOT NULL, totp_secret TEXT, totp_step {int},"
    " disabled INTEGER NOT NULL DEFAULT 0, must_change INTEGER NOT NULL DEFAULT 1,"
    " failures INTEGER NOT NULL DEFAULT 0, locked_until {int},"
    " last_sign_in {int}, created {int} NOT NULL)"
)
"""The accounts table; `{int}` is the store's 64-bit integer type (times are milliseconds)."""


@dataclass(frozen=True, slots=True)
class StaffEvent:
    """What an account change or a sign-in records in the console's audit: when, who acted
    (`staff:<name>`, `system`, or the administrator given), what, on whom, and details."""

    at: int
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class AccountStore(Protocol):
    """Where a console keeps its accounts and records their events."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of one query."""
        ...

    def change(self, sql: str, params: Sequence[Any], *events: StaffEvent) -> None:
        """One statement and its events, committed together or not at all."""
        ...

    def record(self, *events: StaffEvent) -> None:
        """Events that change no account (a sign-out, an unknown name's failed sign-in)."""
        ...


class AccountError(Exception):
    """The change cannot be made as asked (unknown account, name taken, weak password)."""


class SignInRefused(StrEnum):
    """Why a sign-in failed; the console shows every one of them as the same sentence."""

    UNKNOWN = "unknown"
    DISABLED = "disabled"
    LOCKED_OUT = "locked_out"
    PASSWORD = "password"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    display: str
    roles: frozenset[Role]
    disabled: bool
    must_change: bool
    """Signed in with a one-time password: the next page is the change of password."""
    last_sign_in: int | None
    locked_until: int | None
    has_totp: bool

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "display": self.display,
                "roles": sorted(r.value for r in self.roles), "disabled": self.disabled,
                "must_change": self.must_change, "last_sign_in": self.last_sign_in,
                "locked_until": self.locked_until, "totp": self.has_totp}


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What staff are told once, when an account is made or reset: never stored in clear."""

    name: str
    password: str
    totp_uri: str | None


@dataclass(frozen=True, slots=True)
class SignIn:
    account: Account | None
    refused: SignInRefused | None = None


_COLUMNS = ("name, display, roles, disabled, must_change, last_sign_in, locked_until, "
            "totp_secret, password_hash, failures, totp_step")


class AccountBook:
    def __init__(self, store: AccountStore, hasher: PasswordHasher = PRODUCTION_HASHER) -> None:
        """`store` holds the table `TABLE` already (each store makes it its own way)."""
        self._store = store
        self._hasher = hasher
        self._dummy_hash: str | None = None

    # -- reading ---------------------------------------------------------------------------

    def accounts(self) -> list[Account]:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM staff_accounts ORDER BY name")
        return [_account(row) for row in rows]

    def get(self, name: str) -> Account | None:
        row = self._row(name)
        return _account(row) if row else None

    def _row(self, name: str) -> tuple[object, ...] | None:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM staff_accounts WHERE name = ?", [name])
        return tuple(rows[0]) if rows else None

    # -- changes made by an administrator --------------------------------------------------

    def add(self, name: str, display: str, roles: frozenset[Role], by: str, now: int
            ) -> Enrolment:
        """A new account with a one-time password (and a TOTP secret if its roles need one)."""
        if self._row(name) is not None:
            raise AccountError(f"account {name} already exists")
        if not roles:
            raise AccountError("give at least one role")
        password = _one_time_password()
        secret = pyotp.random_base32() if needs_totp(roles) else None
        audit = StaffEvent(now, by, "account_add", f"staff:{name}",
                           {"display": display, "roles": sorted(r.value for r in roles),
                            "totp": secret is not None})
        self._store.change(
            "INSERT INTO staff_accounts (name, display, roles, password_hash, totp_secret,"
            " created) VALUES (?, ?, ?, ?, ?, ?)",
            [name, display, json.dumps(sorted(r.value for r in roles)),
             self._hasher.hash(password), secret, now], audit)
        return Enrolment(name, password, _uri(name, secret))

    def reset(self, name: str, by: str, now: int) -> Enrolment:
        """A lost factor: a new one-time password and, where the roles need one, a new TOTP
        secret; failures and lockout cleared."""
        account = self._need(name)
        password = _one_time_password()
        secret = pyotp.random_base32() if needs_totp(account.roles) else None
        audit = StaffEvent(now, by, "account_reset", f"staff:{name}",
                           {"totp": secret is not None})
        self._store.change(
            "UPDATE staff_accounts SET password_hash = ?, totp_secret = ?, totp_step = NULL,"
            " must_change = 1, failures = 0, locked_until = NULL WHERE name = ?",
            [self._hasher.hash(password), secret, name], audit)
        return Enrolment(name, password, _uri(name, secret))

    def set_disabled(self, name: str, disabled: bool, by: str, now: int) -> Account:
        self._need(name)
        action = "account_disable" if disabled else "account_enable"
        self._store.change("UPDATE staff_accounts SET disabled = ? WHERE name = ?",
                           [int(disabled), name], StaffEvent(now, by, action, f"staff:{name}"))
        return self._need(name)

    def set_roles(self, name: str, roles: frozenset[Role], by: str, now: int) -> Account:
        account = self._need(name)
        if not roles:
            raise AccountError("give at least one role")
        secret_needed = needs_totp(roles) and not account.has_totp
        if secret_needed:
            raise AccountError(f"{', '.join(sorted(roles))} needs a second factor: reset the "
                               "account to enrol one")
        audit = StaffEvent(now, by, "account_roles", f"staff:{name}",
                           {"roles": sorted(r.value for r in roles)})
        self._store.change("UPDATE staff_accounts SET roles = ? WHERE name = ?",
                           [json.dumps(sorted(r.value for r in roles)), name], audit)
        return self._need(name)

    # -- the account holder ----------------------------------------------------------------

    def sign_in(self, name: str, password: str, code: str, now: int) -> SignIn:
        """Check a password (and code); count a failure, lock the account after
        `MAX_FAILURES` in a row (audited), and record a success."""
        dummy = self._dummy()  # made before the name is looked up: no first-time timing tell
        row = self._row(name)
        if row is None:
            self._verify(dummy, password)  # the same work as for a real account
            self._store.record(StaffEvent(now, f"staff:{name}", "sign_in_failed",
                                          f"staff:{name}", {"why": SignInRefused.UNKNOWN.value}))
            return SignIn(None, SignInRefused.UNKNOWN)
        account = _account(row)
        secret, password_hash, failures, last_step = row[7], row[8], row[9], row[10]
        if account.locked_until is not None and now < account.locked_until:
            self._verify(dummy, password)
            return self._failed(account, SignInRefused.LOCKED_OUT, int(str(failures)), now,
                                count=False)
        if account.locked_until is not None:
            failures = 0  # the lockout has run out: a fresh start
        if not self._verify(str(password_hash), password):
            return self._failed(account, SignInRefused.PASSWORD, int(str(failures)), now)
        step = None
        if needs_totp(account.roles) or secret:
            step = _totp_step(str(secret or ""), code, now,
                              None if last_step is None else int(str(last_step)))
            if step is None:
                return self._failed(account, SignInRefused.CODE, int(str(failures)), now)
        if account.disabled:
            return self._failed(account, SignInRefused.DISABLED, int(str(failures)), now,
                                count=False)
        audit = StaffEvent(now, f"staff:{name}", "sign_in", f"staff:{name}", {})
        self._store.change(
            "UPDATE staff_accounts SET failures = 0, locked_until = NULL, last_sign_in = ?,"
            " totp_step = COALESCE(?, totp_step) WHERE name = ?", [now, step, name], audit)
        return SignIn(self._need(name))

    def change_password(self, name: str, old: str, new: str, now: int) -> Account:
        row = self._row(name)
        if row is None:
            raise AccountError(f"no account {name}")
        if not self._verify(str(row[8]), old):
            raise AccountError("the current password is not right")
        if len(new) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
        if new == old:
            raise AccountError("the new password must differ from the old one")
        audit = StaffEvent(now, f"staff:{name}", "password_change", f"staff:{name}")
        self._store.change("UPDATE staff_accounts SET password_hash = ?, must_change = 0 "
                           "WHERE name = ?", [self._hasher.hash(new), name], audit)
        return self._need(name)

    def signed_out(self, name: str, now: int) -> None:
        self._store.record(StaffEvent(now, f"staff:{name}", "sign_out", f"staff:{name}"))

    # -- helpers ---------------------------------------------------------------------------

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        """A hash to check an unknown or locked-out name's password against (the same work as
        for a real account); made at the first sign-in, not at every gateway start."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("not a password anyone has")
        return self._dummy_hash

    def _need(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AccountError(f"no account {name}")
        return account

    def _failed(self, account: Account, why: SignInRefused, failures: int, now: int, *,
                count: bool = True) -> SignIn:
        audits = [StaffEvent(now, f"staff:{account.name}", "sign_in_failed",
                             f"staff:{account.name}", {"why": why.value})]
        locked_until = account.locked_until
        if count:
            failures += 1
            locked_until = None
            if failures >= MAX_FAILURES:
                locked_until = now + LOCKOUT_MS
                audits.append(StaffEvent(now, "system", "account_locked",
                                         f"staff:{account.name}",
                                         {"failures": failures, "until": locked_until}))
        self._store.change("UPDATE staff_accounts SET failures = ?, locked_until = ? "
                           "WHERE name = ?", [failures, locked_until, account.name], *audits)
        return SignIn(None, why)


def _account(row: Sequence[object]) -> Account:
    r = tuple(row)
    return Account(
        name=str(r[0]), display=str(r[1]),
        roles=frozenset(Role(x) for x in json.loads(str(r[2]))),
        disabled=bool(r[3]), must_change=bool(r[4]),
        last_sign_in=None if r[5] is None else int(str(r[5])),
        locked_until=None if r[6] is None else int(str(r[6])),
        has_totp=bool(r[7]),
    )


def _one_time_password() -> str:
    return secrets.token_urlsafe(15)


def _uri(name: str, secret: str | None) -> str | None:
    if secret is None:
        return None
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def _totp_step(secret: str, code: str, now_ms: int, last_step: int | None) -> int | None:
    """The time step `code` belongs to (this one or either neighbour, for clock drift), if it
    is right and newer than the last accepted: a code works once."""
    if not secret or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now_ms // 1000)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_now(secret: str, now_ms: int) -> str:
    """The code an authenticator shows at `now_ms` (tests, and the demo's first admin)."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(now_ms // 1000))

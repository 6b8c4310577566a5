"""The one table of rights, walked whole: every role against every right, as the table says and
as the console's API answers."""

from __future__ import annotations

import httpx
import pytest

from common.staff_web.roles import Role, needs_totp, parse_roles
from gateway.console.rights import RIGHTS, Right, allowed
from gateway.console.web import Console
from tests.console.conftest import make_staff, sign_in

R = Right
EXPECTED: dict[Role, set[Right]] = {
    Role.OFFICER: {R.VIEW_WING, R.LOCK_CELL, R.ANSWER_REQUESTS, R.VIEW_PRISONERS},
    Role.SECURITY: {R.VIEW_WING, R.LOCK_CELL, R.LOCK_WIDE, R.ANSWER_REQUESTS, R.VIEW_AUDIT,
                    R.CURFEW, R.WEB_GRANTS, R.WIPE, R.VIEW_PRISONERS, R.PRISONERS},
    Role.IT: {R.VIEW_WING, R.ROLLOUTS, R.INVENTORY},
    Role.ADMIN: {R.ACCOUNTS, R.VIEW_AUDIT},
}

# One request per right the console serves today (the others have no page yet: see
# docs/console.md); each is refused with 403 for a role without the right, and not for one with.
PROBES: dict[Right, tuple[str, str, dict[str, str] | None]] = {
    R.VIEW_WING: ("GET", "/wing.json", None),
    R.LOCK_CELL: ("POST", "/lock.json", {"action": "lock", "scope": "cell", "cell": "C1",
                                         "reason": "search"}),
    R.LOCK_WIDE: ("POST", "/lock.json", {"action": "lock", "scope": "landing", "landing": "L1",
                                         "reason": "search"}),
    R.ANSWER_REQUESTS: ("GET", "/requests.json", None),
    R.VIEW_AUDIT: ("GET", "/audit.json", None),
    R.ACCOUNTS: ("GET", "/accounts.json", None),
    R.CURFEW: ("GET", "/curfew.json", None),
    R.ROLLOUTS: ("GET", "/rollouts.json", None),
    R.WEB_GRANTS: ("GET", "/web-grants.json", None),
    R.WIPE: ("POST", "/tablets/T1/wipe.json", {"reason": "handed back"}),
    R.INVENTORY: ("GET", "/inventory.json", None),
    R.VIEW_PRISONERS: ("GET", "/prisoners.json", None),
    R.PRISONERS: ("POST", "/prisoners/import.json", {
        "csv": "number,name,language,profile,cell,release_date\n", "dry_run": "on"}),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("right", list(Right))
def test_the_table_gives_each_role_exactly_its_rights(role: Role, right: Right) -> None:
    assert allowed([role], right) is (right in EXPECTED[role])


def test_the_table_names_every_role() -> None:
    assert set(RIGHTS) == set(Role)


def test_security_and_admin_need_a_second_factor() -> None:
    assert [r for r in Role if needs_totp([r])] == [Role.SECURITY, Role.ADMIN]


def test_roles_are_read_from_text_and_an_unknown_one_is_refused() -> None:
    assert parse_roles("officer, it") == {Role.OFFICER, Role.IT}
    with pytest.raises(ValueError, match="unknown role 'warden'"):
        parse_roles("officer,warden")
    with pytest.raises(ValueError):
        parse_roles(" , ")


@pytest.mark.parametrize("role", list(Role))
async def test_the_api_answers_as_the_table_says(client: httpx.AsyncClient, console: Console,
                                                 role: Role) -> None:
    staff = make_staff(console, f"x{role.value}", role)
    assert (await sign_in(client, console, staff)).status_code == 200
    for right, (method, path, form) in PROBES.items():
        response = await client.request(method, path, data=form)
        if right in EXPECTED[role]:
            assert response.status_code == 200, (role, right, response.text)
        else:
            assert response.status_code == 403, (role, right, response.text)

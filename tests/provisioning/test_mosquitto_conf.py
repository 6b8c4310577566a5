"""The broker directory is laid out for a broker that drops privileges to `mosquitto`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning import estate as est
from provisioning import mosquitto_conf
from tests.provisioning.conftest import WING, make_estate

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="mosquitto drops privileges only as root")


@as_root
def test_the_broker_key_belongs_to_the_broker_account_and_nobody_else(
    tmp_path: Path, broker_dir: Path
) -> None:
    estate = make_estate(tmp_path / "estate")
    est.install_broker(estate, WING, broker_dir, 18883)
    key = (broker_dir / mosquitto_conf.KEY_FILE).stat()
    uid, _gid = mosquitto_conf.broker_account() or (None, None)
    assert (key.st_uid, key.st_mode & 0o777) == (uid, 0o600)
    assert (broker_dir / mosquitto_conf.ACL_FILE).stat().st_uid == 0  # readable, not writable


@as_root
def test_installing_where_mosquitto_cannot_reach_is_refused_with_the_reason(tmp_path: Path) -> None:
    estate = make_estate(tmp_path / "estate")
    tmp_path.chmod(0o700)
    with pytest.raises(
        est.EstateError, match="mosquitto runs as user 'mosquitto' and cannot enter"
    ):
        est.install_broker(estate, WING, tmp_path / "broker", 18883)


def test_the_acl_grants_a_tablet_only_its_own_channels_and_the_wing() -> None:
    acl = mosquitto_conf.render_acl(["gateway@w1"]).splitlines()
    patterns = sorted(line for line in acl if line.startswith("pattern"))
    assert patterns == [
        "pattern read tablet/%u/cmd",
        "pattern read tablet/%u/desired",
        "pattern read tablet/%u/reply",
        "pattern read wing/#",
        "pattern write tablet/%u/ack",
        "pattern write tablet/%u/person",
        "pattern write tablet/%u/reported",
        "pattern write tablet/%u/request",
        "pattern write tablet/%u/status",
        "pattern write tablet/%u/telemetry",
    ]
    assert acl[acl.index("user gateway@w1") + 1] == "topic readwrite #"

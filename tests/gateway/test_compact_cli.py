"""`cellbridge gateway compact`: archives old audit entries behind a checkpoint, and the whole
history (archives, then the live chain) still verifies."""

from __future__ import annotations

import time

from click.testing import CliRunner

from gateway.cli import gateway
from gateway.store import Audit, Store

DAY = 86_400_000


def _config(tmp_path):
    state = tmp_path / "state"
    path = tmp_path / "gateway.toml"
    path.write_text(f'wing = "A"\nstate_dir = "{state}"\nsigning_key = "{tmp_path}/key.pem"\n')
    return path, state


def test_compact_archives_what_is_older_than_kept_and_the_history_verifies(tmp_path):
    config, state = _config(tmp_path)
    now = time.time_ns() // 1_000_000
    store = Store(state / "gateway.db")
    for age in (200, 150, 100, 10, 1):
        store.append(Audit(now - age * DAY, "staff:ann", "lock", "wing:A"))
    store.close()

    result = CliRunner().invoke(gateway, ["compact", "--config", str(config), "--keep-days", "90",
                                          "--vacuum"])

    assert result.exit_code == 0, result.output
    assert "archived audit entries 1-3" in result.output
    assert "audit history verifies: 5 entries" in result.output
    assert len(list((state / "audit-archive").glob("audit-*.jsonl.gz"))) == 1
    store = Store(state / "gateway.db")
    try:
        assert [e.seq for e in store.audit_entries(None)] == [4, 5]
    finally:
        store.close()


def test_verify_fails_loudly_when_an_archive_is_gone(tmp_path):
    config, state = _config(tmp_path)
    now = time.time_ns() // 1_000_000
    store = Store(state / "gateway.db")
    for age in (200, 1):
        store.append(Audit(now - age * DAY, "staff:ann", "lock", "wing:A"))
    store.close()
    CliRunner().invoke(gateway, ["compact", "--config", str(config)])
    for archive in (state / "audit-archive").iterdir():
        archive.unlink()

    result = CliRunner().invoke(gateway, ["compact", "--config", str(config), "--verify"])

    assert result.exit_code != 0
    assert "breaks at entry 1" in result.output and "missing" in result.output

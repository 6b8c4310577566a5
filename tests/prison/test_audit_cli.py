"""`cellbridge prison audit --verify`: each wing's chain as the prison holds it, checked, and a
broken one named with where it breaks (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w
from click.testing import CliRunner

from prison.cli import prison
from prison.store import open_store
from tests.prison.test_store import chain


def config_file(tmp_path: Path, location: tuple[Path, str | None]) -> Path:
    path = tmp_path / "prison.toml"
    settings = {"prison": "P", "state_dir": str(location[0].parent),
                "signing_key": str(tmp_path / "unused.key"), "wings": ["A", "B"]}
    if location[1]:
        settings["postgresql"] = location[1]
    path.write_text(tomli_w.dumps(settings))
    return path


def test_audit_verify_checks_every_wing_and_names_a_broken_chain(
        tmp_path: Path, store_location: tuple[Path, str | None]):
    store = open_store(*store_location)
    for item in chain(4):
        store.put_audit("A", item)
    for item in chain(3, "B"):
        store.put_audit("B", item)
    config = config_file(tmp_path, store_location)

    result = CliRunner().invoke(prison, ["audit", "--verify", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "wing A: 4 entries held, head 4" in result.output
    assert "wing B: 3 entries held, head 3" in result.output
    assert result.output.count("chain verifies") == 2

    store.execute("UPDATE audit SET actor = 'someone else' WHERE wing = 'B' AND seq = 2")
    store.close()
    result = CliRunner().invoke(prison, ["audit", "--verify", "--json", "--config", str(config)])
    assert result.exit_code == 1
    wings = {w["wing"]: w for w in json.loads(result.output.split("\nError:")[0])["wings"]}
    assert wings["A"]["verify"]["ok"] is True
    assert wings["B"]["verify"] == {"ok": False, "entries": 1, "broken_at": 2,
                                    "problem": "contents do not match its hash"}
    assert "audit chain broken for wing B" in result.output

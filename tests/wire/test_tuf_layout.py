"""The TUF repository contract: one layout for IT's release directory, the gateway's copy and
the URLs a tablet fetches; the names of release targets; their signed `custom` field."""

from __future__ import annotations

from pathlib import Path

import pytest

from wire.tuf_layout import (
    ReleaseMeta,
    TufLayout,
    app_target_path,
    os_target_path,
    release_meta,
    root_version,
    version_key,
)


def test_the_files_of_a_repository_directory() -> None:
    layout = TufLayout(Path("/srv/repo"))
    assert layout.metadata_dir == Path("/srv/repo/metadata")
    assert layout.role_file("timestamp") == Path("/srv/repo/metadata/timestamp.json")
    assert layout.root_file(1) == Path("/srv/repo/metadata/1.root.json")
    assert layout.target_file("os/x.raucb") == Path("/srv/repo/targets/os/x.raucb")
    assert layout.online_key("snapshot") == Path("/srv/repo/keys/snapshot.pem")


def test_the_served_paths_match_the_directory() -> None:
    base = "https://10.0.0.5:8443/"
    assert TufLayout.metadata_url(base) == "https://10.0.0.5:8443/metadata/"
    assert TufLayout.targets_url(base) == "https://10.0.0.5:8443/targets/"
    assert TufLayout.target_url(base, app_target_path("radio", "1.2")) == \
        "https://10.0.0.5:8443/targets/app/radio-1.2.raucb"


def test_release_targets_are_named_by_kind_and_version() -> None:
    assert os_target_path("1.4.0") == "os/cellbridge-os-1.4.0.raucb"
    assert app_target_path("education", "2.0") == "app/education-2.0.raucb"


@pytest.mark.parametrize(("name", "version"), [
    ("1.root.json", 1), ("12.root.json", 12), ("root.json", None), ("x.root.json", None),
    ("1.targets.json", None), ("1.root.json.tmp", None), ("².root.json", None),
])
def test_versioned_roots_are_told_apart_from_other_metadata(name: str, version: int | None) -> None:
    assert root_version(name) == version


def test_a_release_custom_field_reads_back() -> None:
    meta = ReleaseMeta(kind="app", version="1.2.0", compatible="cellbridge-tablet", app="radio")
    assert release_meta(meta.model_dump(exclude_none=True)) == meta


CUSTOM_REFUSED: list[tuple[str, object]] = [
    ("not an object", "os"),
    ("an unknown kind", {"kind": "kernel", "version": "1", "compatible": "c"}),
    ("a version with letters", {"kind": "os", "version": "1.0-beta", "compatible": "c"}),
    ("a compatible with a space", {"kind": "os", "version": "1", "compatible": "a b"}),
    ("an app id with capitals", {"kind": "app", "version": "1", "compatible": "c", "app": "Radio"}),
    ("an unknown field", {"kind": "os", "version": "1", "compatible": "c", "urgent": True}),
    ("a version as a number", {"kind": "os", "version": 1, "compatible": "c"}),
]


@pytest.mark.parametrize("custom", [row[1] for row in CUSTOM_REFUSED],
                         ids=[row[0] for row in CUSTOM_REFUSED])
def test_a_custom_field_the_agent_cannot_trust_is_refused(custom: object) -> None:
    with pytest.raises(ValueError, match=r"^target custom field: "):
        release_meta(custom)


@pytest.mark.parametrize(("older", "newer"), [("1.9", "1.10"), ("1", "1.0.1"), ("0.9.9", "1")])
def test_versions_order_numerically(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_trailing_zeros_do_not_make_a_version_newer() -> None:
    assert version_key("1.2") == version_key("1.2.0.0")

"""The gateway's repository: HTTPS with Range requests, nothing outside metadata/ and targets/,
and timestamp metadata re-signed with the online key before it expires."""

from __future__ import annotations

import datetime

from tuf.api.metadata import Metadata, Root, Snapshot, Timestamp

from agent.updates.http import make_pool
from gateway.repository import GatewayRepository
from tests.updates.conftest import Wing

UTC = datetime.UTC


def test_bundles_are_served_in_ranges(wing: Wing) -> None:
    target = wing.release("1.1.0")
    data = (wing.repo_dir / "targets" / target).read_bytes()
    pool = make_pool(wing.tls.ca)
    response = pool.request("GET", f"{wing.url}/targets/{target}",
                            headers={"Range": "bytes=1000-1999"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert response.data == data[1000:2000]


def test_the_online_keys_are_not_served(wing: Wing) -> None:
    pool = make_pool(wing.tls.ca)
    for path in ["/keys/timestamp.pem", "/targets/../keys/timestamp.pem",
                 "/metadata/%2e%2e/keys/timestamp.pem"]:
        response = pool.request("GET", f"{wing.url}{path}")
        assert response.status == 404, path
        assert b"PRIVATE KEY" not in response.data


def test_a_timestamp_near_expiry_is_resigned_with_the_online_key(wing: Wing) -> None:
    repo = GatewayRepository(wing.repo_dir)
    before = Metadata[Timestamp].from_file(str(repo.metadata_dir / "timestamp.json")).signed
    later = before.expires - datetime.timedelta(hours=1)
    assert repo.refresh_timestamp(later)

    after = Metadata[Timestamp].from_file(str(repo.metadata_dir / "timestamp.json"))
    assert after.signed.version == before.version + 1
    assert after.signed.expires == (later + datetime.timedelta(days=1)).replace(microsecond=0)
    assert after.signed.snapshot_meta.version == before.snapshot_meta.version
    root = Metadata[Root].from_file(str(repo.metadata_dir / "root.json")).signed
    root.verify_delegate("timestamp", after.signed_bytes, after.signatures)


def test_a_fresh_timestamp_is_left_alone(wing: Wing) -> None:
    repo = GatewayRepository(wing.repo_dir)
    before = (repo.metadata_dir / "timestamp.json").read_bytes()
    assert not repo.refresh_timestamp(datetime.datetime.now(UTC))
    assert (repo.metadata_dir / "timestamp.json").read_bytes() == before


def test_tablets_accept_the_refreshed_timestamp(wing: Wing) -> None:
    target = wing.release("1.1.0")
    tablet = wing.tablet(wing.repo_dir.parent / "tablet")
    repo = GatewayRepository(wing.repo_dir)
    expires = Metadata[Timestamp].from_file(str(repo.metadata_dir / "timestamp.json")) \
        .signed.expires
    # Two days on, the published timestamp has expired; the gateway re-signed it meanwhile.
    two_days_on = expires + datetime.timedelta(days=1)
    repo.refresh_timestamp(two_days_on - datetime.timedelta(hours=1))
    release = tablet.engine().releases.lookup(target, two_days_on - datetime.timedelta(hours=1))
    assert release.meta.version == "1.1.0"


def test_a_publish_after_gateway_refreshes_continues_the_timestamp_versions(wing: Wing) -> None:
    repo = GatewayRepository(wing.repo_dir)
    for _ in range(3):  # three days of gateway refreshes
        expires = repo.timestamp_expires()
        assert expires is not None
        repo.refresh_timestamp(expires - datetime.timedelta(hours=1))
    served = Metadata[Timestamp].from_file(str(repo.metadata_dir / "timestamp.json")).signed
    target = wing.release("1.1.0")  # signs and publishes a new timestamp
    after = Metadata[Timestamp].from_file(str(repo.metadata_dir / "timestamp.json"))
    assert after.signed.version > served.version
    root = Metadata[Root].from_file(str(repo.metadata_dir / "root.json")).signed
    root.verify_delegate("timestamp", after.signed_bytes, after.signatures)
    tablet = wing.tablet(wing.repo_dir.parent / "tablet")
    assert tablet.engine().releases.lookup(target, datetime.datetime.now(UTC)).meta.version \
        == "1.1.0"


def test_a_snapshot_near_expiry_is_resigned_and_tablets_follow(wing: Wing) -> None:
    target = wing.release("1.1.0")
    repo = GatewayRepository(wing.repo_dir)
    snapshot = Metadata[Snapshot].from_file(str(repo.metadata_dir / "snapshot.json")).signed
    six_days_on = snapshot.expires - datetime.timedelta(days=1)
    assert repo.refresh_timestamp(six_days_on)
    fresh = Metadata[Snapshot].from_file(str(repo.metadata_dir / "snapshot.json"))
    assert fresh.signed.version == snapshot.version + 1
    assert fresh.signed.expires > snapshot.expires
    tablet = wing.tablet(wing.repo_dir.parent / "tablet")
    eight_days_on = snapshot.expires + datetime.timedelta(days=1)
    assert repo.refresh_timestamp(eight_days_on - datetime.timedelta(hours=1))
    assert tablet.engine().releases.lookup(target, eight_days_on - datetime.timedelta(hours=1)) \
        .meta.version == "1.1.0"
    wing.release("1.2.0")  # the next publish continues after the gateway's versions
    after = Metadata[Snapshot].from_file(str(repo.metadata_dir / "snapshot.json")).signed
    assert after.version > fresh.signed.version

"""`cellbridge provision`: the IT staff's commands, end to end, and what they do with bad input."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from cellbridge.cli import main
from common.broker import Mosquitto, free_port
from common.enrolment import load_bundle
from provisioning import estate as est
from tests.provisioning.conftest import Wing, tree_digest
from tests.provisioning.test_broker_mtls import refusal_after_reload

PASSPHRASE = "correct horse battery staple"


def run(estate: Path, *args: str, passphrase: str | None = PASSPHRASE, **kwargs) -> Result:
    env = {"CELLBRIDGE_ESTATE_PASSPHRASE": passphrase or ""}
    return CliRunner().invoke(
        main, ["provision", "--estate", str(estate), *args], env=env, **kwargs
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """An estate with encrypted keys, wing w1 and tablets T1, T2."""
    root = tmp_path / "estate"
    ok(run(root, "init", "--name", "HMP Test"))
    ok(run(root, "wing", "--wing", "w1", "--broker-dir", str(tmp_path / "broker-w1")))
    batch = tmp_path / "first.csv"
    batch.write_text("tablet_id,wing,cell,serial\nT1,w1,1-01,SN1\nT2,w1,1-02,SN2\n")
    ok(run(root, "enrol", "--batch", str(batch)))
    return root


def csr_file(tmp_path: Path, key, name: str = "csr.pem", cn: str = "N1") -> Path:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, algorithm)
    )
    path = tmp_path / name
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def test_init_makes_a_root_ca_whose_key_is_encrypted_and_private(estate: Path) -> None:
    key = estate / "root" / "ca.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert PASSPHRASE.encode() not in key.read_bytes()


def test_no_private_key_is_readable_by_others(estate: Path) -> None:
    keys = [p for p in estate.rglob("*.key")]
    assert len(keys) >= 6
    assert all(p.stat().st_mode & 0o077 == 0 for p in keys)


def test_init_with_demo_keys_needs_no_passphrase_afterwards(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = ok(run(root, "init", "--insecure-demo-keys", passphrase=None))
    assert "UNENCRYPTED" in result.output
    ok(run(root, "wing", "--wing", "w1", passphrase=None))
    assert b"ENCRYPTED" not in (root / "wings" / "w1" / "ca.key").read_bytes()


def test_the_passphrase_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    root = tmp_path / "estate"
    ok(run(root, "init", "--passphrase-file", str(secret), passphrase=None))
    ok(run(root, "wing", "--wing", "w1", "--passphrase-file", str(secret), passphrase=None))


def test_wing_writes_the_broker_configuration_for_mutual_tls_and_identity(
    estate: Path, tmp_path: Path
) -> None:
    broker = estate / "wings" / "w1" / "broker"
    conf = (broker / "mosquitto.conf").read_text()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "allow_anonymous false",
        f"crlfile {tmp_path / 'broker-w1' / 'crl.pem'}",
        "persistence true",
    ):
        assert line in conf.splitlines()
    assert "LimitNOFILE=65536" in (broker / "cellbridge-limits.conf").read_text()
    acl = (broker / "acl").read_text().splitlines()
    assert "user gateway@w1" in acl and "pattern write tablet/%u/reported" in acl


def test_enrol_signs_a_tablets_csr_into_a_bundle_without_its_key(
    estate: Path, tmp_path: Path
) -> None:
    csr = csr_file(tmp_path, ec.generate_private_key(ec.SECP256R1()), cn="N1")
    result = ok(
        run(
            estate,
            "enrol",
            "--csr",
            str(csr),
            "--wing",
            "w1",
            "--cell",
            "2-07",
            "--by",
            "it-officer",
        )
    )
    assert "enrolled N1" in result.output
    assert sorted(p.name for p in (estate / "bundles" / "N1").iterdir()) == [
        "ca.pem",
        "enrolment.json",
        "gateway-signing.pub",
        "manifest.json",
        "manifest.sig",
        "tablet.pem",
    ]
    [row] = [
        t
        for t in json.loads(ok(run(estate, "inventory", "--json")).output)
        if t["tablet_id"] == "N1"
    ]
    assert (row["wing"], row["cell"], row["status"], row["enrolled_by"]) == (
        "w1",
        "2-07",
        "active",
        "it-officer",
    )


def test_enrol_batch_of_200_tablets_fills_the_inventory(estate: Path, tmp_path: Path) -> None:
    batch = tmp_path / "tablets.csv"
    batch.write_text(
        "tablet_id,wing,cell\n"
        + "".join(f"B{i:03d},w1,{i // 20}-{i % 20:02d}\n" for i in range(200))
    )
    result = ok(run(estate, "enrol", "--batch", str(batch)))
    assert "enrolled 200 tablets" in result.output
    tablets = json.loads(ok(run(estate, "inventory", "--json")).output)
    assert len([t for t in tablets if t["tablet_id"].startswith("B")]) == 200
    identities = [
        load_bundle(estate / "bundles" / f"B{i:03d}", now=est._utc(None)) for i in range(200)
    ]
    assert len({i.tablet_id for i in identities}) == 200


def test_inventory_flags_certificates_expiring_within_30_days(estate: Path, tmp_path: Path) -> None:
    csr = csr_file(tmp_path, ec.generate_private_key(ec.SECP256R1()), cn="SHORT")
    ok(run(estate, "enrol", "--csr", str(csr), "--wing", "w1", "--cell", "x", "--days", "10"))
    rows = {t["tablet_id"]: t for t in json.loads(ok(run(estate, "inventory", "--json")).output)}
    assert rows["SHORT"]["expiring"] is True and rows["T1"]["expiring"] is False
    table = ok(run(estate, "inventory")).output
    assert next(line for line in table.splitlines() if "EXPIRING" in line).startswith("SHORT")


def test_revoke_marks_the_tablet_and_reloads_the_wing_broker(
    tmp_path: Path, broker_dir: Path
) -> None:
    root = tmp_path / "estate"
    port = free_port()
    ok(run(root, "init", "--insecure-demo-keys", passphrase=None))
    ok(
        run(
            root,
            "wing",
            "--wing",
            "w1",
            "--broker-port",
            str(port),
            "--broker-dir",
            str(broker_dir),
            "--install",
            passphrase=None,
        )
    )
    batch = tmp_path / "t.csv"
    batch.write_text("tablet_id,wing,cell\nA,w1,1\nB,w1,2\n")
    ok(run(root, "enrol", "--batch", str(batch), passphrase=None))
    broker = Mosquitto(broker_dir, port, config=(broker_dir / "mosquitto.conf").read_text()).start()
    try:
        result = ok(
            run(root, "revoke", "--device", "A", "--reason", "found jailbroken", passphrase=None)
        )
        assert f"broker (pid {broker.process.pid}) reloaded" in result.output
        wing = Wing(est.Estate(root), broker, broker_dir)
        assert "CERTIFICATE_REVOKED" in refusal_after_reload(wing, wing.tablet_context("A"))
    finally:
        broker.kill()
    [row] = [
        t
        for t in json.loads(ok(run(root, "inventory", "--json", passphrase=None)).output)
        if t["tablet_id"] == "A"
    ]
    assert (row["status"], row["status_reason"]) == ("revoked", "found jailbroken")


def test_revoke_can_mark_a_tablet_in_repair(estate: Path) -> None:
    ok(run(estate, "revoke", "--device", "T2", "--reason", "cracked screen", "--as", "in_repair"))
    assert est.Estate(estate).inventory.get("T2").status.value == "in_repair"


def test_wing_with_json_names_its_files_for_a_script(estate: Path) -> None:
    made = json.loads(ok(run(estate, "wing", "--wing", "w2", "--json")).output)
    assert made["wing"] == "w2"
    assert Path(made["console_cert"]).is_file() and Path(made["broker_files"]).is_dir()
    assert made["broker_config"] is None  # not installed here without --install


def test_revoke_with_json_says_the_status_and_where_the_crl_went(estate: Path,
                                                                 tmp_path: Path) -> None:
    said = json.loads(ok(run(estate, "revoke", "--device", "T1", "--reason", "lost",
                             "--json")).output)
    assert (said["tablet"], said["status"]) == ("T1", "revoked")
    assert Path(said["crl"]).is_file()
    assert said["broker_dir"] == str(tmp_path / "broker-w1")
    assert said["broker"] in ("reloaded", "not running", "not installed here")


def test_crl_with_json_says_until_when_it_is_valid(estate: Path) -> None:
    said = json.loads(ok(run(estate, "crl", "--wing", "w1", "--json")).output)
    assert said["wing"] == "w1"
    assert datetime.fromisoformat(said["valid_until"]) > datetime.now(UTC)


def _write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def _write_bytes(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


# (case, arguments (callable of tmp_path), passphrase, expected one-line error)
BAD_INPUT = [
    ("init over an estate", lambda t: ["init"], PASSPHRASE, "already holds an estate"),
    (
        "wing: wrong passphrase",
        lambda t: ["wing", "--wing", "w2"],
        "not the passphrase",
        "wrong estate passphrase",
    ),
    (
        "wing: no passphrase at all",
        lambda t: ["wing", "--wing", "w2"],
        None,
        "estate passphrase is needed",
    ),
    (
        "wing: exists already",
        lambda t: ["wing", "--wing", "w1"],
        PASSPHRASE,
        "wing 'w1' already exists",
    ),
    ("wing: invalid id", lambda t: ["wing", "--wing", "w/#"], PASSPHRASE, "invalid wing id"),
    (
        "wing: wrong passphrase says what to do",
        lambda t: ["wing", "--wing", "w2"],
        "not the passphrase",
        "give the estate passphrase chosen at `cellbridge provision init`, with "
        "--passphrase-file FILE, $CELLBRIDGE_ESTATE_PASSPHRASE, or at the prompt",
    ),
    (
        "wing: a passphrase file that is not text",
        lambda t: ["wing", "--wing", "w2", "--passphrase-file", _write_bytes(t, "pp", b"\xb8\xff")],
        None,
        "is not text (UTF-8): give the file that holds the estate passphrase",
    ),
    (
        "wing: broker host not a host",
        lambda t: ["wing", "--wing", "w2", "--broker-host", "gw a!"],
        PASSPHRASE,
        "Invalid value for '--broker-host': 'gw a!' is not a host name or IP address",
    ),
    (
        "wing: extra name not a host",
        lambda t: ["wing", "--wing", "w2", "--san", "*.x"],
        PASSPHRASE,
        "Invalid value for '--san': '*.x' is not a host name or IP address",
    ),
    (
        "prison: invalid id",
        lambda t: ["prison", "--prison", "P 1"],
        PASSPHRASE,
        "invalid prison id 'P 1': use 1-64 letters, digits, '.', '_' or '-'",
    ),
    (
        "enrol: not a CSR says how to make one",
        lambda t: ["enrol", "--csr", _write(t, "y.csr", "hello"), "--wing", "w1", "--cell", "1"],
        PASSPHRASE,
        "y.csr: not a PEM certificate signing request (a tablet makes its request with "
        "`cellbridge agent enrol-request`)",
    ),
    (
        "enrol: missing CSR file",
        lambda t: ["enrol", "--csr", str(t / "nope.csr"), "--wing", "w1", "--cell", "1"],
        PASSPHRASE,
        "cannot read CSR",
    ),
    (
        "enrol: not a CSR",
        lambda t: ["enrol", "--csr", _write(t, "x.csr", "hello"), "--wing", "w1", "--cell", "1"],
        PASSPHRASE,
        "not a PEM certificate signing request",
    ),
    (
        "enrol: RSA key",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, rsa.generate_private_key(65537, 2048))),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "RSA is not accepted: tablets must use EC P-256",
    ),
    (
        "enrol: P-384 key",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ec.generate_private_key(ec.SECP384R1()))),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "EC secp384r1 is not accepted",
    ),
    (
        "enrol: Ed25519 key",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ed25519.Ed25519PrivateKey.generate())),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "Ed25519 is not accepted",
    ),
    (
        "enrol: CN not a tablet id",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ec.generate_private_key(ec.SECP256R1()), cn="tablet/#")),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "is not a valid tablet id",
    ),
    (
        "enrol: duplicate tablet id",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ec.generate_private_key(ec.SECP256R1()), cn="T1")),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "tablet 'T1' is already enrolled",
    ),
    (
        "enrol: unknown wing",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ec.generate_private_key(ec.SECP256R1()))),
            "--wing",
            "w9",
            "--cell",
            "1",
        ],
        PASSPHRASE,
        "unknown wing 'w9'",
    ),
    (
        "enrol: wrong passphrase",
        lambda t: [
            "enrol",
            "--csr",
            str(csr_file(t, ec.generate_private_key(ec.SECP256R1()))),
            "--wing",
            "w1",
            "--cell",
            "1",
        ],
        "nope",
        "wrong estate passphrase",
    ),
    ("enrol: neither CSR nor batch", lambda t: ["enrol"], PASSPHRASE, "give either --csr"),
    (
        "enrol: missing batch file",
        lambda t: ["enrol", "--batch", str(t / "none.csv")],
        PASSPHRASE,
        "cannot read batch CSV",
    ),
    (
        "enrol: batch header",
        lambda t: ["enrol", "--batch", _write(t, "h.csv", "id,room\nX,1\n")],
        PASSPHRASE,
        "header must be tablet_id,wing,cell",
    ),
    (
        "enrol: batch duplicate",
        lambda t: [
            "enrol",
            "--batch",
            _write(t, "d.csv", "tablet_id,wing,cell\nX1,w1,1\nX1,w1,2\n"),
        ],
        PASSPHRASE,
        "tablet 'X1' appears twice",
    ),
    (
        "enrol: batch already enrolled",
        lambda t: [
            "enrol",
            "--batch",
            _write(t, "e.csv", "tablet_id,wing,cell\nX1,w1,1\nT2,w1,2\n"),
        ],
        PASSPHRASE,
        "tablet 'T2' is already enrolled",
    ),
    (
        "enrol: batch unknown wing",
        lambda t: [
            "enrol",
            "--batch",
            _write(t, "w.csv", "tablet_id,wing,cell\nX1,w1,1\nX2,w7,2\n"),
        ],
        PASSPHRASE,
        "unknown wing 'w7'",
    ),
    (
        "enrol: batch bad id",
        lambda t: ["enrol", "--batch", _write(t, "i.csv", "tablet_id,wing,cell\nX 1,w1,1\n")],
        PASSPHRASE,
        "line 2: invalid tablet id",
    ),
    (
        "enrol: batch wrong passphrase",
        lambda t: ["enrol", "--batch", _write(t, "p.csv", "tablet_id,wing,cell\nX1,w1,1\n")],
        "wrong",
        "wrong estate passphrase",
    ),
    (
        "revoke: unknown tablet",
        lambda t: ["revoke", "--device", "ZZ", "--reason", "lost"],
        PASSPHRASE,
        "unknown tablet 'ZZ'",
    ),
    (
        "revoke: wrong passphrase",
        lambda t: ["revoke", "--device", "T1", "--reason", "lost"],
        "wrong",
        "wrong estate passphrase",
    ),
    (
        "revoke: empty reason",
        lambda t: ["revoke", "--device", "T1", "--reason", " "],
        PASSPHRASE,
        "--reason must not be empty",
    ),
    (
        "inventory: unknown wing",
        lambda t: ["inventory", "--wing", "w5"],
        PASSPHRASE,
        "unknown wing 'w5'",
    ),
]


@pytest.mark.parametrize(
    ("case", "arguments", "passphrase", "message"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT]
)
def test_bad_input_gets_a_one_line_error_and_leaves_the_estate_unchanged(
    estate: Path, tmp_path: Path, case, arguments, passphrase, message
) -> None:
    args = arguments(tmp_path)
    before = tree_digest(estate)
    result = run(estate, *args, passphrase=passphrase)
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert message in result.stderr
    assert tree_digest(estate) == before


def test_revoking_twice_is_refused_and_changes_nothing(estate: Path) -> None:
    ok(run(estate, "revoke", "--device", "T1", "--reason", "lost"))
    before = tree_digest(estate)
    result = run(estate, "revoke", "--device", "T1", "--reason", "lost again")
    assert result.exit_code == 1 and "already revoked" in result.stderr
    assert tree_digest(estate) == before


def test_every_command_refuses_a_missing_estate(tmp_path: Path) -> None:
    for args in (
        ["wing", "--wing", "w1"],
        ["enrol", "--batch", _write(tmp_path, "b.csv", "tablet_id,wing,cell\nA,w1,1\n")],
        ["revoke", "--device", "A", "--reason", "x"],
        ["inventory"],
    ):
        result = run(tmp_path / "absent", *args)
        assert result.exit_code == 1 and "no estate at" in result.stderr, (args, result.output)
    assert not (tmp_path / "absent").exists()


def test_a_short_passphrase_is_refused_and_no_estate_is_made(tmp_path: Path) -> None:
    result = run(tmp_path / "estate", "init", passphrase="short")
    assert result.exit_code == 1 and "at least 12 characters" in result.stderr
    assert not (tmp_path / "estate").exists()


def test_keys_are_never_printed(estate: Path, tmp_path: Path) -> None:
    outputs = ok(run(estate, "inventory")).output
    outputs += ok(
        run(
            estate,
            "enrol",
            "--csr",
            str(csr_file(tmp_path, ec.generate_private_key(ec.SECP256R1()), cn="Q1")),
            "--wing",
            "w1",
            "--cell",
            "1",
        )
    ).output
    assert "PRIVATE KEY" not in outputs and PASSPHRASE not in outputs
    assert os.environ.get("CELLBRIDGE_ESTATE_PASSPHRASE") is None


def test_crl_refresh_keeps_every_revocation_and_extends_the_validity(estate: Path) -> None:
    ok(run(estate, "revoke", "--device", "T1", "--reason", "lost"))
    path = estate / "wings" / "w1" / "broker" / "crl.pem"
    before = x509.load_pem_x509_crl(path.read_bytes())
    result = ok(run(estate, "crl", "--wing", "w1"))
    assert "CRL valid until" in result.output
    after = x509.load_pem_x509_crl(path.read_bytes())
    assert [r.serial_number for r in after] == [r.serial_number for r in before]
    assert after.last_update_utc > before.last_update_utc
    assert after.next_update_utc > before.next_update_utc


def test_revoke_can_hand_the_crl_to_a_reload_command(estate: Path, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    command = f"sh -c 'cp \"$0\" {shipped}'"
    result = ok(
        run(estate, "revoke", "--device", "T1", "--reason", "lost", "--reload-command", command)
    )
    assert "reloaded by the reload command" in result.output
    assert shipped.read_bytes() == (estate / "wings" / "w1" / "broker" / "crl.pem").read_bytes()


def test_a_failing_reload_command_is_reported_after_the_revocation_is_recorded(
    estate: Path,
) -> None:
    result = run(
        estate,
        "revoke",
        "--device",
        "T1",
        "--reason",
        "lost",
        "--reload-command",
        "sh -c 'echo no route >&2; exit 3'",
    )
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "Error: revoked in the estate, but the reload command failed (3): no route"
    )
    assert est.Estate(estate).inventory.get("T1").status.value == "revoked"


def test_a_batch_with_several_bad_rows_names_every_one_by_its_line(
    estate: Path, tmp_path: Path
) -> None:
    batch = Path(_write(tmp_path, "bad.csv", "tablet_id,wing,cell\nX1,w1,1\nX 2,w1,2\n"
                        "X3,w1,\nX1,w1,4\nX5,w1,5,extra\nX6,w1,6\n"))
    before = tree_digest(estate)
    result = run(estate, "enrol", "--batch", str(batch))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{batch}: line 3: invalid tablet id 'X 2'",
        f"{batch}: line 4: tablet 'X3' has no cell",
        f"{batch}: line 5: tablet 'X1' appears twice (first on line 2)",
        f"{batch}: line 6: more columns than the header",
        f"Error: {batch}: 4 bad rows (above); nothing was enrolled",
    ]
    assert tree_digest(estate) == before


def test_a_batch_names_each_row_of_an_unknown_wing_or_an_enrolled_tablet_by_its_line(
    estate: Path, tmp_path: Path
) -> None:
    batch = Path(_write(tmp_path, "more.csv", "tablet_id,wing,cell\nT1,w1,1\nX2,w9,2\n"
                        "X3,w1,3\nT2,w1,4\n"))
    before = tree_digest(estate)
    result = run(estate, "enrol", "--batch", str(batch))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{batch}: line 2: tablet 'T1' is already enrolled (active, wing w1)",
        f"{batch}: line 3: tablet 'X2': unknown wing 'w9' (known: w1)",
        f"{batch}: line 5: tablet 'T2' is already enrolled (active, wing w1)",
        f"Error: {batch}: 3 bad rows (above); nothing was enrolled",
    ]
    assert tree_digest(estate) == before


def test_the_batch_csv_header_is_documented_in_the_help(tmp_path: Path) -> None:
    result = run(tmp_path / "estate", "enrol", "--help")
    assert "tablet_id,wing,cell" in " ".join(result.stdout.split())
    assert "line number" in result.stdout


def test_the_passphrase_prompt_names_the_keys_it_unlocks(
    estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import provisioning.cli as cli

    asked: list[str] = []

    def prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        return PASSPHRASE

    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.click, "prompt", prompt)
    monkeypatch.delenv("CELLBRIDGE_ESTATE_PASSPHRASE", raising=False)
    cli._read_passphrase(None, root=estate)
    assert asked == [f"The estate passphrase (it encrypts the estate's root and wing CA keys "
                     f"in {estate})"]


def test_the_estate_may_be_named_after_the_command_as_well_as_before(estate: Path) -> None:
    env = {"CELLBRIDGE_ESTATE_PASSPHRASE": PASSPHRASE}
    before = CliRunner().invoke(main, ["provision", "--estate", str(estate), "inventory",
                                       "--json"], env=env)
    after = CliRunner().invoke(main, ["provision", "inventory", "--estate", str(estate),
                                      "--json"], env=env)
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout and '"T1"' in after.stdout
    missing = CliRunner().invoke(main, ["provision", "inventory", "--estate",
                                        str(estate.parent / "none")], env=env)
    assert missing.exit_code == 1 and "no estate at" in missing.stderr


def test_enrol_with_json_prints_each_tablet_and_its_bundle_only(estate: Path,
                                                               tmp_path: Path) -> None:
    batch = Path(_write(tmp_path, "json.csv", "tablet_id,wing,cell\nJ1,w1,2-01\nJ2,w1,2-02\n"))
    result = ok(run(estate, "enrol", "--batch", str(batch), "--json"))
    assert json.loads(result.stdout) == [
        {"tablet_id": tablet, "wing": "w1", "cell": cell, "bundle": str(estate / "bundles" / tablet)}
        for tablet, cell in (("J1", "2-01"), ("J2", "2-02"))
    ]
    assert result.stderr == ""

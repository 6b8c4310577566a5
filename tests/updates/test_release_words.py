"""`cellbridge release` speaks the user's words: a bad option names the option, what was given and
what is expected (one line, no validation dump); the passphrase prompt and errors name the keys
they unlock and what to do; a long release shows each stage as it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioning.release_cli import release
from tests.updates import test_release
from tests.updates.support import COMPATIBLE, make_image
from tests.updates.test_release import PASSPHRASE

estate = test_release.estate
"""test_release's fixture: a release repository whose keys are encrypted with PASSPHRASE."""


@pytest.mark.parametrize(("args", "option", "expected"), [
    (["os", "--version", "banana"], "--version", "'banana' is not a release version: up to four "
     "numbers separated by dots, like 1.4.0"),
    (["os", "--version", "1.0", "--compatible", "tablet v2"], "--compatible",
     "'tablet v2' is not a RAUC compatible string"),
    (["app", "--app", "Education", "--version", "1.0"], "--app",
     "'Education' is not an app id: a lower-case letter"),
    (["app", "--app", "education", "--version", "v1"], "--version",
     "'v1' is not a release version"),
])
def test_a_bad_value_is_named_with_what_is_expected(estate: Path, tmp_path: Path,
                                                    args: list[str], option: str,
                                                    expected: str) -> None:
    image = make_image(tmp_path / "rootfs.img", 10_000, seed=1)
    result = CliRunner().invoke(release, [*args, "--dir", str(estate), str(image)],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: Invalid value for '{option}': {expected}")
    assert result.stderr.count("\n") == 1
    assert "validation error" not in result.output and "Traceback" not in result.output


def test_the_prompt_names_the_keys_it_unlocks(estate: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import provisioning.release_cli as cli

    asked: list[str] = []

    def prompt(text: str, **kwargs: object) -> str:
        asked.append(text)
        return "not the passphrase at all"

    monkeypatch.setattr(cli, "interactive", lambda: True)
    monkeypatch.setattr(cli.click, "prompt", prompt)
    image = make_image(tmp_path / "rootfs.img", 10_000, seed=1)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "2.0",
                                          "--compatible", COMPATIBLE, str(image)], env={})
    assert asked == [f"The release passphrase (it encrypts the offline TUF and RAUC signing "
                     f"keys in {estate})"]
    assert result.exit_code == 1
    assert "Error: cannot unlock the release key " in result.stderr
    assert ("wrong passphrase: give the release passphrase set at `cellbridge release init` "
            "with --passphrase-file, $CELLBRIDGE_RELEASE_PASSPHRASE or at the prompt"
            in result.stderr)


def test_without_a_terminal_the_error_says_how_to_give_the_passphrase(estate: Path,
                                                                      tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 10_000, seed=1)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "2.0",
                                          str(image)], env={"CELLBRIDGE_RELEASE_PASSPHRASE": ""})
    assert result.exit_code == 1
    assert result.stderr == (f"Error: the release keys in {estate} are encrypted: give the release "
                             "passphrase with --passphrase-file or set "
                             "CELLBRIDGE_RELEASE_PASSPHRASE\n")


def test_a_release_shows_each_stage_as_it_starts(
    estate: Path, tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "rootfs.img", 300_000, seed=2)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "2.0.1",
                                          "--compatible", COMPATIBLE, str(image)],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "… unlocking the release keys",
        "… building and signing the RAUC bundle of rootfs.img (0.3 MB)",
        result.stderr.splitlines()[2],
    ]
    assert result.stderr.splitlines()[2].startswith("… hashing the bundle (")
    assert result.stderr.splitlines()[2].endswith(" MB) and signing the TUF metadata")
    assert result.stdout.startswith("released os/")
    with_json = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "2.0.2",
                                             "--compatible", COMPATIBLE, str(image), "--json"],
                                   env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert with_json.exit_code == 0 and with_json.stderr == ""  # a script reads stdout only


def test_a_release_not_newer_is_refused_before_the_bundle_is_built(estate: Path,
                                                                    tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 20_000, seed=3)
    env = {"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE}
    args = ["os", "--dir", str(estate), "--compatible", COMPATIBLE, str(image)]
    assert CliRunner().invoke(release, [*args, "--version", "3.0"], env=env).exit_code == 0
    again = CliRunner().invoke(release, [*args, "--version", "2.9"], env=env)
    assert again.exit_code == 1
    assert again.stderr == ("Error: version 2.9 is not newer than released 3.0: give a higher "
                            "version\n")  # no stage shown: nothing was built


@pytest.mark.parametrize(("passphrase_file", "expected"), [
    (b"\xb8\xff\x00", "release passphrase file {file} is not text (UTF-8): give the file that "
                      "holds the release passphrase, on its first line"),
    (b"short\n", "wrong release passphrase for the keys in {estate} (it has at least 12 "
                 "characters): give the one set at `cellbridge release init`"),
])
def test_a_passphrase_file_that_cannot_be_the_passphrase_says_what_to_give(
    estate: Path, tmp_path: Path, passphrase_file: bytes, expected: str,
) -> None:
    file = tmp_path / "passphrase"
    file.write_bytes(passphrase_file)
    image = make_image(tmp_path / "rootfs.img", 10_000, seed=1)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "2.0",
                                          "--passphrase-file", str(file), str(image)], env={})
    assert result.exit_code == 1
    assert result.stderr == "Error: " + expected.format(file=file, estate=estate) + "\n"


def test_an_app_folder_without_its_sealed_manifest_says_how_to_seal_it(estate: Path,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "education"
    folder.mkdir()
    (folder / "run").write_text("#!/bin/sh\n")
    result = CliRunner().invoke(release, ["app", "--dir", str(estate), "--app", "education",
                                          "--version", "3.2.0", "--compatible", COMPATIBLE,
                                          str(folder), "--json"],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {folder} has no manifest.json: seal the folder first with "
                             f"`cellbridge staff policy sign-app {folder} --app education "
                             "--version 3.2.0 --entry ENTRY`\n")


def test_progress_shows_how_far_hashing_the_bundle_has_got(estate: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 3_000_000, seed=4)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "4.0",
                                          "--compatible", COMPATIBLE, str(image), "--progress"],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    meter = [line for line in result.stderr.splitlines() if line.startswith("  hashing [")]
    assert meter[-1].startswith("  hashing [####################] 100% (")
    assert len(meter) >= 2  # a 3 MB bundle is hashed in 1 MiB steps, each shown as it ends
    assert "hashing [" not in result.stdout


def test_without_a_terminal_or_progress_no_meter_is_drawn(estate: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "rootfs.img", 3_000_000, seed=4)
    result = CliRunner().invoke(release, ["os", "--dir", str(estate), "--version", "4.0",
                                          "--compatible", COMPATIBLE, str(image)],
                                env={"CELLBRIDGE_RELEASE_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.output
    assert "hashing [" not in result.stderr

"""Every word the shell shows exists in every language it offers (gettext catalogues)."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from device.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

DEVICE = Path(__file__).resolve().parents[2] / "device"
SOURCES = sorted([*DEVICE.glob("*.py"), *DEVICE.glob("ui/*.py"), *DEVICE.glob("kv/*.kv")])
OTHER_LANGUAGES = [code for code in LANGUAGES if code != "en"]


def extracted_msgids() -> set[str]:
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is not installed (make setup installs gettext)")
    pot = subprocess.run(
        [
            "xgettext",
            "-L",
            "Python",
            "--from-code=UTF-8",
            "--keyword=_",
            "--keyword=gettext",
            "--keyword=ngettext:1,2",
            "--keyword=N_",
            "--no-wrap",
            "-o",
            "-",
            *map(str, SOURCES),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r'^msgid "(.+)"$', pot, re.M))


def compiled(language: str) -> gettext.GNUTranslations:
    return gettext.GNUTranslations(
        (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb")
    )


def test_there_is_a_language_besides_english():
    assert OTHER_LANGUAGES


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_shown_text_is_translated(language):
    catalog = compiled(language)._catalog  # type: ignore[attr-defined]
    keys = {k[0] if isinstance(k, tuple) else k for k in catalog}
    missing = sorted(extracted_msgids() - keys)
    assert missing == []


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_translations_keep_their_placeholders(language):
    for key, text in compiled(language)._catalog.items():  # type: ignore[attr-defined]
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid:
            continue
        assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", msgid)), msgid


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_compiled_catalogue_matches_its_source(language, tmp_path):
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    fresh = tmp_path / "fresh.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(po)], check=True)
    with fresh.open("rb") as f:
        assert gettext.GNUTranslations(f)._catalog == compiled(language)._catalog  # type: ignore[attr-defined]


def test_polish_plurals_follow_polish_grammar():
    from device.view import format_minutes

    polish = compiled("pl")
    assert [format_minutes(n, polish) for n in (1, 2, 5, 22, 25)] == [
        "1 minuta",
        "2 minuty",
        "5 minut",
        "22 minuty",
        "25 minut",
    ]


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_lesson_is_translated(language):
    """A lesson without a translation would show English in the middle of a Polish course."""
    lessons = DEVICE / "lessons"
    english = sorted(p.name for p in lessons.glob("*.toml"))
    translated = sorted(p.name for p in (lessons / language).glob("*.toml"))
    assert translated == english


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_app_of_the_example_catalogue_is_named_in_every_language(language):
    """App names come from the wing's policy, not the shell's catalogue: the example names each
    app in every language the shell ships (`names = { pl = "..." }`), so no English name is left
    in the middle of a Polish home screen."""
    import tomllib

    from wire.policy import AppEntry

    example = DEVICE.parent / "gateway" / "policies" / "example.toml"
    apps = {app_id: AppEntry.model_validate(entry)
            for app_id, entry in tomllib.loads(example.read_text())["apps"].items()}
    unnamed = sorted(app_id for app_id, entry in apps.items() if language not in entry.names)
    assert unnamed == []

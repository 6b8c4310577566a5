"""Digital skills: content is data, and a prisoner's progress survives a restart of the shell."""

from __future__ import annotations

import pytest

from device.lessons import LessonProgress, Progress, load_lessons, load_progress, save_progress
from tests.device.conftest import stop_app
from tests.device.states import state
from wire.localapi import LessonRequest
from wire.prisoners import LessonState, PersonEvent


def find(shell, text):
    return next(
        w for w in shell.app.root.ids.sm.current_screen.walk() if getattr(w, "text", "") == text
    )


def test_every_lesson_file_loads_in_course_order():
    lessons = load_lessons()
    assert [x.id for x in lessons] == [
        "touch-screen",
        "typing",
        "email",
        "staying-safe",
        "forms",
        "resettlement-sites",
    ]
    assert all(len(x.steps) >= 3 for x in lessons)


@pytest.mark.parametrize("language", ["en", "pl"])
def test_every_shipped_lesson_id_is_accepted_by_the_wire(language):
    lessons = load_lessons(language=language)
    assert lessons
    for lesson in lessons:
        LessonRequest(op="lesson", lesson=lesson.id, state=LessonState(step=1))
        PersonEvent(id="0" * 32, kind="lesson", person="A1234BC", at=0, lesson=lesson.id,
                    lesson_state=LessonState(step=1))


@pytest.mark.parametrize("lesson_id", ["2fa-basics", "money_101"])
def test_a_lesson_file_and_the_wire_accept_the_same_ids(tmp_path, lesson_id):
    (tmp_path / "x.toml").write_text(
        f'id = "{lesson_id}"\norder = 1\ntitle = "T"\n[[steps]]\ntitle = "S"\ntext = "x"\n')
    [lesson] = load_lessons(tmp_path)
    assert LessonRequest(op="lesson", lesson=lesson.id, state=LessonState()).lesson == lesson_id


@pytest.mark.parametrize("lesson_id", ["-typing", "Typing", "a" * 65])
def test_a_lesson_id_the_wire_refuses_is_not_loaded_either(tmp_path, lesson_id):
    (tmp_path / "x.toml").write_text(
        f'id = "{lesson_id}"\norder = 1\ntitle = "T"\n[[steps]]\ntitle = "S"\ntext = "x"\n')
    assert load_lessons(tmp_path) == ()
    with pytest.raises(ValueError):
        LessonRequest(op="lesson", lesson=lesson_id, state=LessonState())


def test_a_broken_lesson_file_is_skipped_not_shown(tmp_path):
    (tmp_path / "01-good.toml").write_text(
        'id = "good"\norder = 1\ntitle = "Good"\n[[steps]]\ntitle = "A"\ntext = "B"\n'
    )
    (tmp_path / "02-bad.toml").write_text('id = "Bad Id!"\norder = 2\ntitle = "x"\nsteps = []\n')
    (tmp_path / "03-notoml.toml").write_text("this is [ not toml")
    assert [x.id for x in load_lessons(tmp_path)] == ["good"]


def test_damaged_progress_file_starts_afresh(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text('{"lessons": {"email": {"step": -4}}}')
    assert load_progress(path) == Progress()
    path.write_text("\x00garbage")
    assert load_progress(path) == Progress()


def test_progress_is_clamped_to_the_lesson(tmp_path):
    lesson = load_lessons()[0]
    saved = Progress(lessons={lesson.id: LessonProgress(step=99)})
    save_progress(tmp_path / "p.json", saved)
    assert load_progress(tmp_path / "p.json").of(lesson).step == len(lesson.steps) - 1


@pytest.mark.gui
def test_walking_a_lesson_and_its_progress_surviving_a_restart(start_shell, kivy_window, tmp_path):
    data = tmp_path / "tablet-data"
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(state())
    shell.step()
    shell.tap(find(shell, "Digital skills"))
    assert shell.screen() == "lessons"
    shell.tap(find(shell, "Staying safe online — Not started"))
    assert shell.screen() == "lesson"
    lesson = shell.app.root.ids.sm.current_screen
    assert lesson.step_title == "Passwords"
    shell.tap(find(shell, "Next"))
    shell.tap(find(shell, "Next"))
    assert lesson.step_title == "Check first"
    assert lesson.position_text == "Step 3 of 4"
    shell.screenshot("lesson-step-3")

    stop_app(shell.app, kivy_window)  # the shell restarts (crash, reboot, watchdog)
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(state())
    shell.app.go("lessons")
    shell.step()
    shell.tap(find(shell, "Staying safe online — Step 3 of 4"))
    lesson = shell.app.root.ids.sm.current_screen
    assert lesson.step_title == "Check first"
    shell.tap(find(shell, "Next"))
    assert lesson.is_last
    shell.tap(find(shell, "Finish"))
    assert shell.screen() == "lessons"
    assert find(shell, "Staying safe online — Done")

    stop_app(shell.app, kivy_window)
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(state())
    shell.app.go("lessons")
    shell.step()
    assert find(shell, "Staying safe online — Done")
    assert find(shell, "Using the touch screen — Not started")


def test_a_translated_lesson_replaces_the_english_one_and_keeps_its_id():
    english = {x.id: x for x in load_lessons()}
    polish = {x.id: x for x in load_lessons(language="pl")}
    assert polish.keys() == english.keys()
    assert polish["staying-safe"].title == "Bezpieczeństwo w internecie"
    assert len(polish["staying-safe"].steps) == len(english["staying-safe"].steps)
    assert polish["email"].title == "Czym jest e-mail"
    assert [len(lesson.steps) for lesson in polish.values()] == [
        len(lesson.steps) for lesson in english.values()]


def test_a_lesson_not_yet_translated_is_shown_in_english(tmp_path):
    import shutil

    from device.lessons import LESSON_DIR

    shutil.copytree(LESSON_DIR, tmp_path / "lessons")
    (tmp_path / "lessons" / "pl" / "03-email.toml").unlink()
    english = {x.id: x for x in load_lessons(tmp_path / "lessons")}
    polish = {x.id: x for x in load_lessons(tmp_path / "lessons", language="pl")}
    assert polish["email"] == english["email"]
    assert polish["typing"] != english["typing"]

"""Digital skills lessons: content is data (device/lessons/*.toml); progress is the tablet's (this
file) with nobody signed in, and a signed-in person's from the agent (device/ui/people.py).

Pure: loading validates every file (a broken lesson is skipped and logged, never shown half
drawn), and `Progress` is a small value saved atomically in the shell's data directory, so a
prisoner carries on where they stopped, even after a restart.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from device.storage import read_json, write_json
from wire.prisoners import LessonId

log = logging.getLogger(__name__)

LESSON_DIR = Path(__file__).parent / "lessons"
MAX_LESSON_BYTES = 64 * 1024

Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    text: Text
    icon: str = "book"


class Lesson(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: LessonId
    """The wire's pattern (`wire.prisoners.LESSON_ID_PATTERN`): a lesson id must travel in a
    signed-in person's progress."""
    order: int
    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    summary: Annotated[str, StringConstraints(max_length=300)] = ""
    icon: str = "book"
    steps: Annotated[tuple[Step, ...], Field(min_length=1, max_length=40)]


def load_lessons(directory: Path = LESSON_DIR, language: str = "en") -> tuple[Lesson, ...]:
    """Every valid lesson in `directory`, in course order; a lesson translated into `language`
    (`directory/<language>/<same file name>`, same id) replaces the English one."""
    lessons = []
    for english in sorted(directory.glob("*.toml")):
        translated = directory / language / english.name
        path = translated if language != "en" and translated.is_file() else english
        try:
            if path.stat().st_size > MAX_LESSON_BYTES:
                raise ValueError(f"over {MAX_LESSON_BYTES} bytes")
            lessons.append(Lesson.model_validate(tomllib.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, ValidationError) as exc:
            log.error("lesson %s skipped: %s", path.name, str(exc).splitlines()[0])
    return tuple(sorted(lessons, key=lambda lesson: (lesson.order, lesson.id)))


class LessonProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    step: Annotated[int, Field(ge=0)] = 0
    done: bool = False


class Progress(BaseModel):
    """Where the prisoner is in each lesson."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lessons: dict[str, LessonProgress] = {}

    def of(self, lesson: Lesson) -> LessonProgress:
        saved = self.lessons.get(lesson.id, LessonProgress())
        return saved.model_copy(update={"step": min(saved.step, len(lesson.steps) - 1)})

    def at_step(self, lesson: Lesson, step: int) -> Progress:
        step = max(0, min(step, len(lesson.steps) - 1))
        done = self.of(lesson).done
        return self._with(lesson.id, LessonProgress(step=step, done=done))

    def finished(self, lesson: Lesson) -> Progress:
        return self._with(lesson.id, LessonProgress(step=len(lesson.steps) - 1, done=True))

    def _with(self, lesson_id: str, value: LessonProgress) -> Progress:
        return Progress(lessons={**self.lessons, lesson_id: value})


def load_progress(path: Path) -> Progress:
    """Saved progress, or a fresh start if the file is missing or damaged (logged)."""
    raw = read_json(path)
    if raw is None:
        return Progress()
    try:
        return Progress.model_validate(raw)
    except ValidationError as exc:
        log.warning("%s: progress unreadable (%s); starting afresh", path, exc.error_count())
        return Progress()


def save_progress(path: Path, progress: Progress) -> None:
    write_json(path, progress.model_dump())

"""How the boot test reads QEMU's screendumps (tests/image/screen.py): these run in `make test`;
the boot itself does not."""

from __future__ import annotations

from pathlib import Path

from tests.image.screen import Screen, close, runs, tiles

BG = bytes((244, 241, 234))
TILE = bytes((255, 255, 255))
INK = bytes((31, 41, 51))


def draw(width: int, height: int, boxes: list[tuple[int, int, int, int, bytes]]) -> Screen:
    rows = [[BG] * width for _ in range(height)]
    for x0, y0, x1, y1, colour in boxes:
        for y in range(y0, y1):
            rows[y][x0:x1] = [colour] * (x1 - x0)
    return Screen(width, height, b"".join(b"".join(row) for row in rows))


def test_runs_are_the_stretches_long_enough() -> None:
    flags = [False, True, True, True, False, True, False, True, True, True, True]
    assert runs(flags, 3) == [(1, 4), (7, 11)]


def test_tiles_are_found_in_reading_order_whatever_is_drawn_inside_them() -> None:
    tile_boxes = [(10, 20, 90, 100), (110, 20, 190, 100), (210, 20, 290, 100),
                  (10, 120, 90, 200)]
    # An icon (a tall dark bar) inside the first tile, and a name under it.
    marks = [(40, 30, 60, 90, INK), (20, 92, 80, 98, INK)]
    screen = draw(300, 220, [(*box, TILE) for box in tile_boxes] + marks)
    assert tiles(screen, TILE, min_size=60) == tile_boxes


def test_a_screen_without_tiles_has_none() -> None:
    assert tiles(draw(120, 120, []), TILE, min_size=60) == []


def test_the_dominant_colour_is_the_one_covering_most_of_the_screen() -> None:
    screen = draw(100, 100, [(0, 0, 100, 40, INK)])
    colour, share = screen.dominant()
    assert colour == BG and share == 0.6


def test_colours_are_close_within_the_tolerance_only() -> None:
    assert close(bytes((100, 100, 100)), bytes((106, 94, 100)))
    assert not close(bytes((100, 100, 100)), bytes((107, 100, 100)))


def test_a_binary_ppm_is_read_as_qemu_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "screen.ppm"
    path.write_bytes(b"P6\n2 1\n255\n" + BG + INK)
    screen = Screen.read(path)
    assert (screen.width, screen.height, screen.pixels) == (2, 1, BG + INK)

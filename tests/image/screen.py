"""Reading QEMU's screendumps (binary PPM): which surface fills the screen, and where the home
screen's tiles are, so the test can tap one as a finger would. Pure functions of the pixels."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RGB = bytes


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    pixels: bytes

    @classmethod
    def read(cls, path: Path) -> Screen:
        data = path.read_bytes()
        header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
        assert header, f"{path} is not a binary PPM"
        width, height = int(header.group(1)), int(header.group(2))
        return cls(width, height, data[header.end():header.end() + width * height * 3])

    def colours(self) -> Counter[RGB]:
        p = self.pixels
        return Counter(p[i:i + 3] for i in range(0, len(p), 3))

    def dominant(self) -> tuple[RGB, float]:
        """The commonest colour and the share of the screen it covers."""
        (colour, n), = self.colours().most_common(1)
        return colour, n / (self.width * self.height)

    def row(self, y: int) -> list[RGB]:
        start = y * self.width * 3
        return [self.pixels[i:i + 3] for i in range(start, start + self.width * 3, 3)]


def to_rgb(colour: tuple[float, ...]) -> RGB:
    return bytes(round(c * 255) for c in colour[:3])


def close(a: RGB, b: RGB, tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def runs(flags: list[bool], min_length: int) -> list[tuple[int, int]]:
    """[start, end) of each run of True at least `min_length` long."""
    found, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= min_length:
                found.append((start, i))
            start = None
    return found


def tiles(screen: Screen, colour: RGB, min_size: int = 60) -> list[tuple[int, int, int, int]]:
    """The boxes (x0, y0, x1, y1) filled mostly with `colour` (the home screen's tiles), in
    reading order: bands of rows where that colour is plentiful, then, within a band, runs of
    columns where it is more than a tenth (an icon or a name inside a tile does not split it; the
    background between tiles has none of it)."""
    rows = [screen.row(y) for y in range(screen.height)]
    plentiful = [sum(close(p, colour) for p in row) >= min_size for row in rows]
    boxes = []
    for y0, y1 in runs(plentiful, min_size):
        band = rows[y0:y1]
        columns = [sum(close(row[x], colour) for row in band) > (y1 - y0) // 10
                   for x in range(screen.width)]
        boxes += [(x0, y0, x1, y1) for x0, x1 in runs(columns, min_size)]
    return boxes

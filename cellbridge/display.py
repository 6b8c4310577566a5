"""A virtual X display (Xvfb) for the shell when there is no screen: the demo and the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


class Xvfb:
    """One Xvfb server on a free display number, without TCP, stopped by `stop()`."""

    def __init__(self, width: int = 1280, height: int = 800, depth: int = 24) -> None:
        binary = shutil.which("Xvfb")
        if binary is None:
            raise RuntimeError("Xvfb is missing: run `make setup` (apt-get install xvfb)")
        self.binary = binary
        self.geometry = f"{width}x{height}x{depth}"
        self.process: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> Xvfb:
        read_fd, write_fd = os.pipe()
        # -displayfd: Xvfb picks a free display itself and writes its number when ready (no race).
        self.process = subprocess.Popen(
            [self.binary, "-displayfd", str(write_fd), "-screen", "0", self.geometry,
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # stopped by its owner, after the shell (not Ctrl-C)
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as ready:
            number = ready.readline().strip()
        if not number:
            self.stop()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        return self

    def environ(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def wait_for_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)

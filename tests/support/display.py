"""A real X server for GUI tests: Xvfb on a free display, reachable only through its Unix socket
and only with a freshly generated MIT-MAGIC-COOKIE (no TCP, no open access).

    with Xvfb(tmp_dir) as xvfb:
        os.environ.update(xvfb.environ())   # DISPLAY and XAUTHORITY for Kivy/SDL

Kivy reads its settings from the environment at import; `kivy_environ` gives the variables that
keep a test's Kivy away from the user's ~/.kivy and its console quiet.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

FIRST_DISPLAY = 90
ATTEMPTS = 40
START_TIMEOUT_S = 20.0


class XvfbError(RuntimeError):
    pass


class Xvfb:
    def __init__(
        self,
        workdir: Path,
        *,
        size: tuple[int, int] = (1280, 800),
        depth: int = 24,
    ) -> None:
        self.workdir = Path(workdir)
        self.size = size
        self.depth = depth
        self.display: int | None = None
        self.authfile = self.workdir / "Xauthority"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Xvfb:
        for tool in ("Xvfb", "xauth"):
            if shutil.which(tool) is None:
                raise XvfbError(f"{tool} is not installed (make setup installs it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = FIRST_DISPLAY + (os.getpid() % 400)
        for number in range(first, first + ATTEMPTS):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            if self._try(number):
                return self
        raise XvfbError(f"no free X display in {first}..{first + ATTEMPTS - 1}")

    def _try(self, number: int) -> bool:
        self.authfile.unlink(missing_ok=True)
        cookie = secrets.token_hex(16)
        subprocess.run(
            ["xauth", "-q", "-f", str(self.authfile), "add", f":{number}", ".", cookie],
            check=True,
            capture_output=True,
        )
        read_fd, write_fd = os.pipe()
        w, h = self.size
        log = open(self.workdir / f"xvfb-{number}.log", "wb")  # noqa: SIM115 (owned by Popen)
        try:
            process = subprocess.Popen(
                [
                    "Xvfb",
                    f":{number}",
                    "-screen",
                    "0",
                    f"{w}x{h}x{self.depth}",
                    "-auth",
                    str(self.authfile),
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    "-displayfd",
                    str(write_fd),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
            log.close()
        try:
            ready, _, _ = select.select([read_fd], [], [], START_TIMEOUT_S)
            announced = os.read(read_fd, 64) if ready else b""
        finally:
            os.close(read_fd)
        if announced.strip() == str(number).encode():
            self.process = process
            self.display = number
            return True
        # Display taken (another test run got there first) or Xvfb failed: try the next one.
        process.kill()
        process.wait()
        return False

    def environ(self) -> dict[str, str]:
        if self.display is None:
            raise XvfbError("Xvfb is not running")
        return {"DISPLAY": f":{self.display}", "XAUTHORITY": str(self.authfile)}

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.display = None

    def __enter__(self) -> Xvfb:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def kivy_environ(kivy_home: Path) -> dict[str, str]:
    """Environment that keeps a test's Kivy self-contained: its own home, no argv parsing, no
    user config, no log files, quiet console."""
    kivy_home.mkdir(parents=True, exist_ok=True)
    return {
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(kivy_home),
        "KIVY_USE_DEFAULTCONFIG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_NO_CONSOLELOG": "1",
    }

"""The generated Squid configuration: what it allows, and that Squid itself accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.squid import Squid


def generated(tmp_path: Path) -> tuple[Squid, str]:
    squid = Squid(Path("/usr/sbin/squid"), tmp_path / "squid", 0, None, Path("/usr/bin/python3"),
                  2)
    return squid, squid.prepare().read_text()


def test_connect_to_443_only_peek_then_splice_never_bump(tmp_path: Path) -> None:
    _, conf = generated(tmp_path)
    lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
    access = [line for line in lines if line.startswith("http_access")]
    assert access[:2] == ["http_access deny !CONNECT", "http_access deny !https_port"]
    assert access[-1] == "http_access deny all"
    bump = [line for line in lines if line.startswith("ssl_bump")]
    assert bump == ["ssl_bump peek step1", "ssl_bump splice step2 sni_allowed",
                    "ssl_bump terminate all"]
    assert all("ttl=0 negative_ttl=0" in line for line in lines
               if line.startswith("external_acl_type"))
    assert "http_port 127.0.0.1:" in conf and "cache deny all" in conf


@pytest.mark.skipif(shutil.which("squid") is None and not Path("/usr/sbin/squid").exists(),
                    reason="squid-openssl is not installed")
def test_squid_parses_the_generated_configuration(tmp_path: Path) -> None:
    squid, _ = generated(tmp_path)
    result = subprocess.run(["/usr/sbin/squid", "-k", "parse", "-f",
                             str(squid.settings.directory / "squid.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "FATAL" not in result.stderr and "ERROR" not in result.stderr

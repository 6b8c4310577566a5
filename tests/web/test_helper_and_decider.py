"""Squid's helper and the gateway's decision socket, alone: the lines they exchange, and failing
closed when the gateway cannot be asked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import squid_helper
from gateway.web_decider import DecisionServer, answer_line
from gateway.web_log import parse_line
from wire.webaccess import WebDecision


def decide(device: str, host: str) -> WebDecision:
    if device == "T1" and host.lower().rstrip(".") == "www.gov.uk":
        return WebDecision(True, "profile:gov", "www.gov.uk", "gov")
    return WebDecision(False, "not_listed", host.lower())


@pytest.mark.parametrize(("line", "answer"), [
    ("T1 www.gov.uk - connect", "OK profile:gov"),
    ("T2 www.gov.uk - connect", "ERR not_listed"),
    ("T1 www.gov.uk www.gov.uk sni", "OK profile:gov"),
    ("T1 www.gov.uk WWW.GOV.UK. sni", "OK profile:gov"),
    ("T1 www.gov.uk www.moneyhelper.org.uk sni", "ERR sni_mismatch"),
    ("T1 www.gov.uk - sni", "ERR no_sni"),
    ("T1 www.gov.uk 127.0.0.1 sni", "ERR sni_ip_literal"),
    ("T1 www.gov.uk", "ERR bad_request"),
    ("T1 www.gov.uk - bump", "ERR bad_request"),
])
def test_the_decision_socket_answers_a_line(line: str, answer: str) -> None:
    assert answer_line(line, decide) == answer


def run_helper(socket_path: Path, mode: str, lines: str) -> list[str]:
    result = subprocess.run([sys.executable, squid_helper.__file__, str(socket_path), mode],
                            input=lines, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_helper_denies_when_the_gateway_cannot_be_asked(tmp_path: Path) -> None:
    answers = run_helper(tmp_path / "nobody.sock", "connect",
                         "0 T1 www.gov.uk\n1 T1 www.gov.uk\n")
    assert answers == ["0 ERR log=gateway_unreachable message=gateway_unreachable",
                       "1 ERR log=gateway_unreachable message=gateway_unreachable"]


async def test_the_helper_asks_the_gateway_and_tags_the_connection(tmp_path: Path) -> None:
    server = DecisionServer(tmp_path / "d.sock", decide)
    await server.start()
    try:
        connect = await asyncio.to_thread(
            run_helper, tmp_path / "d.sock", "connect",
            "0 T1 www.gov.uk\n1 T2 www.gov.uk\n2 - www.gov.uk\n3 T1\n")
        sni = await asyncio.to_thread(
            run_helper, tmp_path / "d.sock", "sni",
            "7 T1/www.gov.uk www.gov.uk\n8 T1/www.gov.uk evil.example\n9 - www.gov.uk\n")
    finally:
        await server.close()
    assert connect == ["0 OK clt_conn_tag=T1/www.gov.uk log=profile:gov",
                       "1 ERR log=not_listed message=not_listed",
                       "2 ERR log=no_tablet_id message=no_tablet_id",
                       "3 ERR log=bad_request message=bad_request"]
    assert sni == ["7 OK log=profile:gov",
                   "8 ERR log=sni_mismatch message=sni_mismatch",
                   "9 ERR log=no_tablet_id message=no_tablet_id"]


@pytest.mark.parametrize(("line", "expected"), [
    ("1796589460.168 - T1/www.gov.uk CONNECT www.gov.uk:443 www.gov.uk TCP_TUNNEL/200 1452 655 "
     "7 splice profile:council-housing",
     ("T1", "www.gov.uk", True, "profile:council-housing", 1452)),
    ("1796590398.275 T1 T1/www.gov.uk CONNECT www.gov.uk:443 www.moneyhelper.org.uk "
     "NONE_NONE/200 0 82 44 terminate sni_mismatch",
     ("T1", "www.gov.uk", False, "sni_mismatch", 0)),
    ("1796589460.192 T1 - CONNECT www.moneyhelper.org.uk:443 www.moneyhelper.org.uk "
     "TCP_DENIED/200 0 106 11 bump not_listed",
     ("T1", "www.moneyhelper.org.uk", False, "not_listed", 0)),
    ("1796590398.717 T1 T1/www.gov.uk CONNECT www.gov.uk:443 - NONE_NONE/200 0 60 8 peek "
     "profile:council-housing", ("T1", "www.gov.uk", False, "not_tls", 0)),
])
def test_access_log_lines_become_the_browsing_record(line: str, expected: tuple) -> None:
    entry = parse_line(line)
    assert entry is not None
    assert (entry.device, entry.host, entry.allowed, entry.reason, entry.bytes_in) == expected


@pytest.mark.parametrize("line", [
    "1796589377.812 - - - error:transaction-end-before-headers - NONE_NONE/0 0 0 0 - -",
    "1796589460.161 T1 T1/www.gov.uk CONNECT www.gov.uk:443 www.gov.uk NONE_NONE/200 0 82 21 "
    "splice profile:council-housing",
    "garbage",
])
def test_lines_that_record_no_decision_are_skipped(line: str) -> None:
    assert parse_line(line) is None


def test_a_count_in_other_digits_than_ascii_reads_as_zero_instead_of_failing() -> None:
    """str.isdigit() is true of "²", which int() refuses: a mangled log line must not stop
    the browsing record."""
    entry = parse_line("1796589460.192 T1 - CONNECT www.moneyhelper.org.uk:443 "
                       "www.moneyhelper.org.uk TCP_DENIED/200 ² ¹⁰⁶ 1² bump not_listed")
    assert entry is not None and entry.host == "www.moneyhelper.org.uk"

"""PIN check time on the tablet (issue 16): one `agent.people.verify_pin` of a 6-digit PIN
against an argon2id verifier, at the parameters the gateway issues, beside the fixed cost of an
argon2id check at the smallest parameters (the floor).

The target is 0.3–1 s on a Raspberry Pi 4 class CPU. This machine is not one: the rows give the
time measured here and the Pi 4 time assumed from it (`PI4_FACTOR`, docs/prisoners-tablet.md).

`python -m bench.pin` prints the rows; `run()` returns them for `make bench`.
"""

from __future__ import annotations

import time

import argon2
import click

from agent.people import hash_like, verify_pin
from bench.stats import Row, markdown, ms, summary
from gateway.prisoners import HASHER

TABLET = argon2.extract_parameters(HASHER.hash("0"))
"""What the gateway issues verifiers with (`gateway.prisoners.HASHER`: t=2, m=19 MiB, p=1)."""
PARAMETERS: dict[str, argon2.Parameters] = {
    "the gateway's verifiers (t=2, m=19 MiB, p=1)": TABLET,
    "argon2-cffi default (RFC 9106 low-memory: t=3, m=64 MiB, p=4)":
        argon2.profiles.RFC_9106_LOW_MEMORY,
}
"""Verifier parameters measured: the tablet re-hashes a new PIN with the parameters of the
verifier it replaces, so the gateway's choice is the tablet's."""
FLOOR = argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                          time_cost=1, memory_cost=8, parallelism=1)
PI4_FACTOR = 4.0
"""Assumed: a Pi 4 (Cortex-A72, 1.5 GHz, LPDDR4) takes about four times as long as one core of
this x86 server for a single-lane (p=1) memory-hard hash (memory bandwidth and per-core speed).
For p=4 the Pi 4's four cores work in parallel where this 2-core machine cannot: the same factor
overstates it."""
PIN = "482913"


def time_checks(parameters: argon2.Parameters, samples: int) -> list[float]:
    verifier = argon2.PasswordHasher.from_parameters(parameters).hash(PIN)
    assert hash_like(verifier, PIN) != verifier  # same parameters, fresh salt
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        assert verify_pin(verifier, PIN)
        times.append(time.perf_counter() - start)
    return times


def run(samples: int = 7) -> list[Row]:
    floor = summary(time_checks(FLOOR, samples))[0]
    rows = []
    for name, parameters in PARAMETERS.items():
        median, p99, _ = summary(time_checks(parameters, samples))
        rows.append(Row("PIN check", f"one check here, {name}", f"{ms(median)} (p99 {ms(p99)})",
                        f"{ms(floor)} (t=1, m=8 KiB)", f"{median / floor:.0f}", "-"))
        rows.append(Row("PIN check", f"assumed on a Pi 4 (×{PI4_FACTOR:g}), {name.split(' (')[0]}",
                        ms(median * PI4_FACTOR), "-", "-", "0.3–1 s"))
    return rows


@click.command()
@click.option("--samples", default=7, show_default=True)
def main(samples: int) -> None:
    click.echo(markdown(run(samples)))


if __name__ == "__main__":
    main()

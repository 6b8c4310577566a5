"""The nightly roll (issue 16): importing a roll of 1,500 prisoners into a wing of 750 two-person
cells, then the next night's roll with 50 moves, end to end at the gateway: parse and check every
row, plan, one transaction with its audit entry, then sign and store the re-issued desired state
of every tablet whose occupants changed.

In process (a `GatewayService` with no broker session, so nothing is sent): the publish that
follows is the lock benchmark's path and is measured there. Target: ≤ 10 s for the moves night.

`python -m bench.prisoners` prints the rows; `run()` returns them for `make bench`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.stats import Row, markdown
from gateway.config import GatewayConfig, TabletSeed
from gateway.service import GatewayService
from wire.envelope import private_key_to_pem

HEADER = "number,name,language,profile,cell,release_date\n"


def number(n: int) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"{letters[n % 24]}{n % 10_000:04d}{letters[(n // 24) % 24]}{letters[n // 576 % 24]}"


def roll(people: int, cells: int, moves: int = 0) -> str:
    """`people` two to a cell; the first `moves` of them moved one cell along."""
    rows = []
    for n in range(people):
        cell = (n // 2 + (1 if n < moves * 2 and n % 2 == 0 else 0)) % cells
        rows.append(f"{number(n)},Person {n} Example,en,standard,C{cell:04d},2028-01-01\n")
    return HEADER + "".join(rows)


async def _measure(state: Path, people: int, cells: int, moves: int) -> list[tuple[str, float,
                                                                                    int]]:
    key = state / "key.pem"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    config = GatewayConfig(wing="A", state_dir=state / "gw", signing_key=key, tablets=[
        TabletSeed(id=f"T{i:04d}", cell=f"C{i:04d}", landing=f"L{i // 50}")
        for i in range(cells)])
    service = GatewayService(config)
    try:
        desk = service.prisoners
        results = []
        for label, text in (("first import", roll(people, cells)),
                            (f"{moves} moves", roll(people, cells, moves)),
                            ("same roll again", roll(people, cells, moves))):
            started = time.perf_counter()
            outcome = await desk.import_roll(text, "bench", dry_run=False, skip_bad=False)
            elapsed = time.perf_counter() - started
            assert not outcome["bad"], outcome["bad"][:3]
            results.append((label, elapsed, int(outcome.get("tablets", 0))))
        return results
    finally:
        service.close()


def run(people: int = 1500, moves: int = 50) -> list[Row]:
    cells = people // 2
    with tempfile.TemporaryDirectory() as directory:
        measured = asyncio.run(_measure(Path(directory), people, cells, moves))
    return [Row("nightly roll", f"{people:,} prisoners, {cells} cells: {label} "
                f"({tablets} tablets re-issued)", f"{seconds:.2f} s", "-", "-",
                "≤ 10 s" if "moves" in label else "-")
            for label, seconds, tablets in measured]


@click.command()
@click.option("--people", default=1500, show_default=True)
@click.option("--moves", default=50, show_default=True)
def main(people: int, moves: int) -> None:
    print(markdown(run(people, moves)))


if __name__ == "__main__":
    main()

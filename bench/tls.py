"""What mutual TLS costs the wing broker: its resident memory per connected tablet, mTLS (the
generated wing configuration, each tablet with its own certificate) beside plain TCP.

`python -m bench.tls --tablets N` prints the rows; `memory_rows(N)` returns them for `make bench`.
The demo estate (and its N tablet certificates) is kept in bench-results/ between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shutil
import ssl
import tempfile
from pathlib import Path

import aiomqtt
import click

from bench.stats import Row
from common.broker import Mosquitto
from common.mqtt import NODELAY, tls_context
from provisioning.demo_estate import DemoEstate

ESTATE_DIR = Path("bench-results") / "estate"
CONNECT_CONCURRENCY = 50


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _plain_broker() -> Mosquitto:
    directory = Path(tempfile.mkdtemp(prefix="cellbridge-bench-"))
    directory.chmod(0o755)
    return Mosquitto(directory).start()


async def _connected_rss(
    broker: Mosquitto, identities: list[str], contexts: list[ssl.SSLContext | None]
) -> tuple[int, int]:
    """The broker's RSS with no client, then with every client connected and subscribed."""
    assert broker.process is not None
    await asyncio.sleep(0.5)
    before = rss_kib(broker.process.pid)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:

        async def one(identifier: str, context: ssl.SSLContext | None) -> None:
            client = aiomqtt.Client(
                broker.host,
                broker.port,
                identifier=identifier,
                protocol=aiomqtt.ProtocolVersion.V5,
                tls_context=context,
                socket_options=NODELAY,
                timeout=60,
            )
            async with gate:
                await stack.enter_async_context(client)
                await client.subscribe(f"tablet/{identifier}/desired", qos=1)
                await client.subscribe("wing/#", qos=1)

        await asyncio.gather(*(one(i, c) for i, c in zip(identities, contexts, strict=True)))
        await asyncio.sleep(1.0)
        after = rss_kib(broker.process.pid)
    return before, after


def measure(tablets: int) -> dict[str, tuple[int, int]]:
    """{"mtls": (rss before, rss after), "plain": (...)} in KiB, `tablets` clients each."""
    _raise_nofile()
    demo = DemoEstate(ESTATE_DIR)
    ids = [f"bench-{i:05d}" for i in range(tablets)]
    demo.enrol(ids)
    contexts: list[ssl.SSLContext | None] = [tls_context(demo.tablet_tls(i)) for i in ids]
    plain: list[ssl.SSLContext | None] = [None] * tablets
    results = {}
    for name, start, ctxs in (
        ("mtls", demo.start_broker, contexts),
        ("plain", _plain_broker, plain),
    ):
        broker = start()
        try:
            results[name] = asyncio.run(_connected_rss(broker, ids, ctxs))
        finally:
            broker.kill()
            shutil.rmtree(broker.workdir, ignore_errors=True)
    return results


def memory_rows(tablets: int = 500) -> list[Row]:
    results = measure(tablets)
    per = {k: (after - before) / tablets for k, (before, after) in results.items()}
    return [
        Row(
            f"broker memory, {tablets} tablets connected",
            "RSS per tablet (mTLS)",
            f"{per['mtls']:.1f} KiB",
            f"{per['plain']:.1f} KiB (plain TCP)",
            f"{per['mtls'] / per['plain']:.1f}x" if per["plain"] > 0 else "-",
            "a wing of 2,000 in < 256 MiB",
        ),
        Row(
            "broker memory, idle",
            "RSS with no client (mTLS / plain)",
            f"{results['mtls'][0] / 1024:.1f} MiB",
            f"{results['plain'][0] / 1024:.1f} MiB",
            "-",
            "-",
        ),
    ]


@click.command()
@click.option("--tablets", default=500, show_default=True)
def main(tablets: int) -> None:
    """Print the broker memory rows."""
    from bench.stats import markdown

    click.echo(markdown(memory_rows(tablets)))


if __name__ == "__main__":
    main()

"""The staff console in Debian's Chromium (Playwright, `executable_path`), on a real wing: a real
mutual-TLS broker, the gateway process serving the console over HTTPS, and simulated tablets
(`cellbridge.fleet` Agents, as `bench.lock` uses: each verifies, applies and reports what the
gateway signs — the compiled swarm of `bench.swarm` only echoes, so it cannot confirm a lock).

- the wing map (`/wing`) for N tablets: the HTML's size (plus its CSS and script) and its first
  contentful paint in Chromium (navigation start → first paint, server time included);
- a lock from the click on the map to "All confirmed." on the job page (live, over SSE), for one
  cell and for the whole wing, against `cellbridge staff lock … --wait` (the process, as staff
  run it) in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import click
import httpx
import pyotp

from bench.probe import patient, probes, split
from bench.scratch import scratch
from bench.stats import Row, ms
from cellbridge.demo import console_config
from cellbridge.fleet import fleet, settle, wait_until
from cellbridge.wing import LocalWing, place

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGET_RENDER_S = 1.0
TARGET_PAGE_BYTES = 1024 * 1024
TARGET_RATIO = 1.2
AGENTS_PER_PROCESS = 250
"""Simulated tablets per process (`bench.probe`): one loop cannot bring 2,000 up on a
loaded machine."""
PASSWORD = "bench-long-password-1"
REASON = "Reason (shown on the lock screen and audited)"


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


async def _account(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/v1/accounts", json={
        "name": "bench", "display": "Bench", "roles": ["security", "officer"], "by": "bench"})
    response.raise_for_status()
    made: dict[str, Any] = response.json()
    return made


async def first_sign_in(page: Any, url: str, made: dict[str, Any], password: str = PASSWORD
                        ) -> None:
    """An account's first sign-in in Chromium (one-time password, TOTP code of the moment), then
    `password` of its own; the page ends on the console's first page."""
    await page.goto(f"{url}/signin")
    await page.get_by_label("Account name").fill(made["name"])
    await page.get_by_label("Password").fill(made["password"])
    code = pyotp.TOTP(pyotp.parse_uri(made["totp_uri"]).secret).now()
    await page.get_by_label("Code from your authenticator").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/password")
    await page.get_by_label("Current password").fill(made["password"])
    await page.get_by_label("New password (at least 12 characters)").fill(password)
    await page.get_by_label("New password again").fill(password)
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(f"{url}/")


async def map_render(page: Any, url: str, samples: int) -> tuple[list[float], int]:
    """First contentful paint of `/wing` (s), and the bytes of the page with its assets."""
    paints = []
    size = 0
    for _ in range(samples):
        await page.goto(f"{url}/wing", wait_until="load")
        timing = await page.evaluate("""() => new Promise(resolve => {
            const done = paint => {
                const nav = performance.getEntriesByType('navigation')[0];
                const assets = performance.getEntriesByType('resource')
                    .reduce((sum, r) => sum + r.decodedBodySize, 0);
                resolve({paint: paint, bytes: nav.decodedBodySize + assets});
            };
            new PerformanceObserver(list => {
                const entry = list.getEntriesByName('first-contentful-paint')[0];
                if (entry) done(entry.startTime);
            }).observe({type: 'paint', buffered: true});
            setTimeout(() => done(null), 5000);
        })""")
        if timing["paint"] is None:
            raise RuntimeError("Chromium reported no first contentful paint")
        paints.append(timing["paint"] / 1000)
        size = max(size, int(timing["bytes"]))
    return paints, size


async def console_lock(page: Any, url: str, scope: str, cell: str, reason: str) -> float:
    """From the click on Lock to "All confirmed." on the job page."""
    from playwright.async_api import expect

    await page.goto(f"{url}/wing", wait_until="load")
    await page.get_by_label(scope).check()
    if scope == "A cell":
        await page.get_by_label("Cell", exact=True).select_option(cell)
    await page.get_by_label(REASON).fill(reason)
    started = time.perf_counter()
    await page.get_by_role("button", name="Lock", exact=True).click()
    await expect(page.locator("#state")).to_have_text("All confirmed.", timeout=180_000)
    return time.perf_counter() - started


async def cli(env: dict[str, str], *args: str) -> float:
    """`cellbridge staff …` as staff run it; its wall time (s). (Not blocking the loop: the
    simulated tablets run on it.)"""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cellbridge", "staff", *args, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _out, err = await process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"staff {' '.join(args)}: {err.decode().strip()}")
    return elapsed


async def lift_wing(api: httpx.AsyncClient, page: Any, url: str, tablets: int) -> None:
    """Lift the wing lockdown as two people must: asked for at the control API (the bench's OS
    account), approved in the console by the bench's console account; then until every tablet
    is unlocked again. Not timed: it resets the wing between samples."""
    asked = await api.post("/v1/lock", json={"wing": True, "locked": False, "reason": "bench"})
    pending = asked.json()["awaiting_approval"]["id"]
    await page.goto(f"{url}/approvals", wait_until="load")
    await page.locator(f"form[action='/approvals/{pending}/approve'] button").click()
    await _gateway_sees_ready(api, tablets)


async def api_lock(api: httpx.AsyncClient, selector: dict[str, Any], reason: str) -> float:
    """`POST /v1/lock` with `wait_s` on the control API: the CLI's `--wait` without the start
    of a Python process (s)."""
    started = time.perf_counter()
    response = await api.post("/v1/lock", json={**selector, "locked": True, "reason": reason,
                                                "wait_s": 120})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["pending"]:
        raise RuntimeError(f"lock {selector} not confirmed: {response.text[:300]}")
    return elapsed


def pool_size(tablets: int, processes: int) -> int:
    """Processes for the simulated tablets (0: one per `AGENTS_PER_PROCESS`)."""
    return processes if processes > 0 else max(1, -(-tablets // AGENTS_PER_PROCESS))


async def _gateway_sees_ready(api: httpx.AsyncClient, tablets: int, timeout: float = 300
                              ) -> None:
    """Until the gateway sees every tablet online, unlocked and in sync (the view the console
    and the CLI confirm by)."""
    ready = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views: list[dict[str, Any]] = (await api.get("/v1/tablets")).json()
        ready = sum(1 for v in views if v["online"] and v["locked"] is False and v["in_sync"])
        if ready >= tablets:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"the gateway sees only {ready} of {tablets} tablets ready")


@contextlib.asynccontextmanager
async def simulated(configs: list[Any], processes: int, api: httpx.AsyncClient
                    ) -> AsyncIterator[str]:
    """The wing's simulated tablets, up and unlocked at the gateway; yields how they ran."""
    if processes <= 1:
        async with fleet(configs) as agents:
            await wait_until(lambda: all(a.connected for a in agents), 900)
            await wait_until(lambda: all(not a.state.locked for a in agents), 300)
            settle()
            yield "one process"
        return
    started = time.monotonic()
    async with probes(*split(configs, processes)) as children:
        await _gateway_sees_ready(api, len(configs))  # each child saw its own up
        click.echo(f"console bench: {len(configs)} tablets ready in "
                   f"{time.monotonic() - started:.0f} s over {len(children)} processes", err=True)
        yield f"{len(children)} processes"


async def measure(tablets: int, samples: int, map_only: bool = False, processes: int = 0
                  ) -> list[Row]:
    """`map_only`: no simulated tablets, only the map (every tablet registered, none reported:
    the largest page). `processes`: how many processes run the simulated tablets (0: one per
    `AGENTS_PER_PROCESS`)."""
    from playwright.async_api import async_playwright

    root = scratch()
    wing = LocalWing(root / "wing", tablets, tls=True, state_root=root / "tablets")
    try:
        wing.start_broker()
        material = wing.estate.estate.gateway_material(wing.wing)
        wing.console = console_config(material)
        if wing.console is None:
            raise RuntimeError("the demo estate has no console certificate")
        url = f"https://127.0.0.1:{wing.console.port}"
        wing.start_gateway(timeout=120)
        env = {**os.environ, "CELLBRIDGE_GATEWAY_API": str(wing.gateway_api)}
        configs = [] if map_only else [patient(wing.agent_config(t, resolved=pool_size(
            tablets, processes) <= 1)) for t in wing.tablets]
        transport = httpx.AsyncHTTPTransport(uds=str(wing.gateway_api))
        pool = 1 if map_only else pool_size(tablets, processes)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as api,
            simulated(configs, pool, api) as how,
            async_playwright() as playwright,
        ):
            made = await _account(api)
            click.echo(f"console bench: {tablets} tablets up ({how})", err=True)
            await asyncio.sleep(3)
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await first_sign_in(page, url, made)
            load = load_average()
            paints, size = await map_render(page, url, samples)
            click.echo(f"console bench: map {paints} s, {size} bytes", err=True)
            if map_only:
                await browser.close()
                name = f"console, {tablets} tablets registered, none reported (Chromium)"
                return [Row(name, f"wing map first paint, median / max of {len(paints)}",
                            f"{ms(statistics.median(paints))} / {ms(max(paints))}", "", "",
                            f"≤ {TARGET_RENDER_S * 1000:.0f} ms"),
                        Row(name, "wing map page + CSS + script", f"{size / 1024:.0f} KiB",
                            "", "", f"≤ {TARGET_PAGE_BYTES // 1024} KiB"),
                        Row(name, "machine load (1/5 min)", load, "", "", "")]
            cell = place(wing.tablets[0])[0]
            one_web, one_cli, wide_web, wide_cli = [], [], [], []
            one_api, wide_api = [], []
            for index in range(samples):
                one_web.append(await console_lock(page, url, "A cell", cell, f"bench {index}"))
                await cli(env, "unlock", "--cell", cell, "--reason", "bench", "--wait", "30")
                one_cli.append(await cli(env, "lock", "--cell", cell, "--reason", f"cli {index}",
                                   "--wait", "30"))
                await cli(env, "unlock", "--cell", cell, "--reason", "bench", "--wait", "30")
                one_api.append(await api_lock(api, {"cell": cell}, f"api {index}"))
                await cli(env, "unlock", "--cell", cell, "--reason", "bench", "--wait", "30")
            for index in range(max(1, samples // 3)):
                wide_web.append(await console_lock(page, url, "The whole wing", "",
                                                   f"bench wing {index}"))
                await lift_wing(api, page, url, tablets)
                wide_cli.append(await cli(env, "lock", "--wing", "--reason", f"cli wing {index}",
                                    "--wait", "120"))
                await lift_wing(api, page, url, tablets)
                wide_api.append(await api_lock(api, {"wing": True}, f"api wing {index}"))
                await lift_wing(api, page, url, tablets)
            load = f"{load} → {load_average()}"
            await browser.close()
        click.echo(f"console bench: {load}", err=True)
        paint50 = statistics.median(paints)
        name = f"console, {tablets} tablets (mTLS, Chromium; agents in {how})"
        rows = [
            Row(name, f"wing map first paint, median of {len(paints)}", ms(paint50), "",
                "", f"≤ {TARGET_RENDER_S * 1000:.0f} ms"),
            Row(name, "wing map first paint, max", ms(max(paints)), "", "", ""),
            Row(name, "wing map page + CSS + script", f"{size / 1024:.0f} KiB", "", "",
                f"≤ {TARGET_PAGE_BYTES // 1024} KiB"),
        ]
        for label, web, floor, bare in (("lock one cell", one_web, one_cli, one_api),
                                        (f"lock the wing ({tablets})", wide_web, wide_cli,
                                         wide_api)):
            w50, f50, b50 = (statistics.median(web), statistics.median(floor),
                             statistics.median(bare))
            measure_name = f"{label}: click → all confirmed, median of {len(web)}"
            rows.append(Row(name, measure_name, ms(w50), f"{ms(f50)} (staff lock --wait)",
                            f"{w50 / f50:.2f}×", f"≤ {TARGET_RATIO}× the CLI"))
            rows.append(Row(name, measure_name, ms(w50),
                            f"{ms(b50)} (its API call, no process start)",
                            f"{w50 / b50:.2f}×", "reported beside"))
        rows.append(Row(name, "machine load (1/5 min) during the run", load, "", "", ""))
        return rows
    finally:
        wing.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(root, ignore_errors=True)


def run(tablets: int, samples: int, map_only: bool = False, processes: int = 0) -> list[Row]:
    if shutil.which(CHROMIUM) is None:
        click.echo("console bench skipped: Debian's chromium is not installed", err=True)
        return []
    return asyncio.run(measure(tablets, samples, map_only, processes))


@click.command()
@click.option("--tablets", default=2000, show_default=True)
@click.option("--samples", default=5, show_default=True)
@click.option("--map-only", is_flag=True, help="Only the map, without simulated tablets.")
@click.option("--processes", default=0, show_default=True,
              help=f"Processes for the simulated tablets (0: one per {AGENTS_PER_PROCESS}).")
def main(tablets: int, samples: int, map_only: bool, processes: int) -> None:
    """Only the console benchmark (`python -m bench.console`)."""
    from bench.stats import markdown

    click.echo(markdown(run(tablets, samples, map_only, processes)))


if __name__ == "__main__":
    main()

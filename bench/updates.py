"""Benchmark: install of an OS bundle (HTTPS download from a local gateway, streaming verify,
RAUC signature check, write to a file-backed slot) against one hashlib SHA-256 pass over the
same file in the same run, and the engine process's peak RSS at two bundle sizes.

    python -m bench.updates [--sizes 100,1024] [--repeat N] [--dir DIR]

Targets (issue 4): install rate >= 0.8x the hashing rate; peak RSS <= 64 MiB and the same at
both sizes (constant memory).

The install is timed from spawning the engine process to its exit, and split into phases at the
states it enters: start (interpreter, imports, TUF metadata refresh), download + streaming
verify, install (RAUC check, slot copy, fsync), finish (cleanup, activation, exit). Each phase
also gets the CPU seconds the engine spent in it (all its threads) and, for the download, the
gateway's (the repository server runs in this process): CPU / wall says how many of the
machine's cores the phase kept busy. With `--repeat N` the fastest of N installs (each on a fresh
tablet) and of N hash passes is kept: on a shared machine that is the one least disturbed. Floor
and engine alternate (a curl run, then an engine run, N times): each engine run is also divided
by the floor run just before it, and the median and spread of those N ratios are printed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import Row, markdown
from gateway.repository_server import serving_in_thread
from provisioning.release import EstateRepository
from tests.updates.support import COMPATIBLE, make_tablet, make_tls

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def random_image(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    return path


def sha256_rate(path: Path) -> float:
    """Bytes per second of one hashlib SHA-256 pass (file in page cache, like the install)."""
    began = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return path.stat().st_size / (time.perf_counter() - began)


def curl_rate(url: str, ca: Path, slot: Path) -> float:
    """Bytes per second of the pipeline a user could build by hand: `curl` fetching the same
    bytes over the same kind of TLS connection, `tee` writing them to the slot file while
    `sha256sum` hashes them, then the slot fsynced (`sync`), spawn to exit."""
    slot.unlink(missing_ok=True)
    script = ('set -e -o pipefail; curl -sS --fail --cacert "$1" "$2" | tee "$3" | sha256sum '
              '>/dev/null; sync "$3"')
    began, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(["bash", "-c", script, "curl-floor", str(ca), url, str(slot)], check=True)
    rate = slot.stat().st_size / (time.perf_counter() - began)
    FLOOR_CPU.append(_children_cpu() - cpu)
    slot.unlink()
    return rate


FLOOR_CPU: list[float] = []
"""CPU seconds of each floor pipeline run (curl, tee, sha256sum, sync), in order."""


def _own_cpu() -> float:
    """CPU seconds of this process: the repository server's thread (the rest waits)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_engine(config: Path, target: str, version: str) -> dict[str, Any]:
    """One install by a real engine process: its JSON report (phases, CPU, peak RSS)."""
    server, children = _own_cpu(), _children_cpu()
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "agent.updates.run_once", str(config), target, version],
        cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if result.returncode != 10:  # 10: installed, reboot requested
        raise SystemExit(f"engine exited {result.returncode}: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    report["server_cpu"] = _own_cpu() - server
    report["engine_cpu"] = _children_cpu() - children  # with rauc and the exit
    return report


Phase = tuple[float, float]
"""(wall seconds, engine CPU seconds)"""


def phases(report: dict[str, Any]) -> dict[str, Phase]:
    """start / download / install / finish; their walls add up to the whole install."""
    at = dict(report["entered"])
    cpu = dict(report["cpu"])
    before_main = report["wall"] - report["seconds"]  # interpreter start, imports before main()
    return {
        "start": (before_main + at["downloading"], cpu["downloading"]),
        "download": (at["verified"] - at["downloading"], cpu["verified"] - cpu["downloading"]),
        "install": (at["installed"] - at["verified"], cpu["installed"] - cpu["verified"]),
        "finish": (report["seconds"] - at["installed"], report["engine_cpu"] - cpu["installed"]),
    }


def bench(directory: Path, sizes_mib: list[int], repeat: int = 1) -> list[dict[str, Any]]:
    estate = EstateRepository.init(directory / "estate", None, insecure_demo=True)
    tls = make_tls(directory / "tls")
    repo_dir = directory / "gateway-repo"
    results = []
    with serving_in_thread(repo_dir, tls.cert, tls.key) as url:
        for n, size in enumerate(sizes_mib):
            version = f"2.0.{n}"
            image = random_image(directory / f"rootfs-{size}.img", size * MiB)
            info = estate.release_os(image, version, COMPATIBLE)
            image.unlink()
            estate.publish(repo_dir)
            bundle = repo_dir / "targets" / info.path
            length = bundle.stat().st_size
            loads = [os.getloadavg()[0]]
            bundle_url = f"{url.rstrip('/')}/targets/{info.path}"
            # Floor and engine alternate, one pair per attempt, so each pair shares the
            # machine's load of its moment: the pairs' ratios say how stable the result is.
            hashes, curls, reports = [], [], []
            for attempt in range(repeat):
                hashes.append(sha256_rate(bundle))
                curls.append(curl_rate(bundle_url, tls.ca, directory / "curl-slot.img"))
                home = directory / f"tablet-{size}-{attempt}"
                tablet = make_tablet(home, estate.metadata_dir / "1.root.json",
                                     estate.release_ca, tls.ca, url)
                reports.append(run_engine(tablet.config_file, info.path, version))
                shutil.rmtree(home)
                loads.append(os.getloadavg()[0])
            pairs = sorted(length / r["wall"] / c for r, c in zip(reports, curls, strict=True))
            hash_rate, curl = max(hashes), max(curls)
            report = min(reports, key=lambda r: float(r["wall"]))
            install_rate = length / report["wall"]
            split = phases(report)
            results.append({
                "size_mib": size, "hash_mbps": hash_rate / MiB, "load": max(loads),
                "load_min": min(loads), "pairs": pairs,
                "install_mbps": install_rate / MiB, "ratio": install_rate / hash_rate,
                "curl_mbps": curl / MiB, "curl_ratio": install_rate / curl,
                "download_mbps": length / split["download"][0] / MiB,
                "slot_mbps": length / split["install"][0] / MiB,
                "phases": split, "server_cpu": report["server_cpu"],
                "rss_mib": report["peak_rss_kib"] / 1024, "seconds": report["wall"],
                "engine_cpu": report["engine_cpu"], "floor_cpu": min(FLOOR_CPU[-repeat:])})
            (estate.targets_dir / info.path).unlink()
            bundle.unlink()
    return results


def run(sizes_mib: list[int], directory: Path | None = None, repeat: int = 1) -> list[Row]:
    """The benchmark as rows of the `make bench` table (the largest size is the headline)."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        results = bench(Path(tmp), sizes_mib, repeat)
    big = results[-1]
    rss = " / ".join(f"{r['rss_mib']:.0f} MiB @ {r['size_mib']} MiB" for r in results)
    hash_floor = f"SHA-256 pass {big['hash_mbps']:.0f} MiB/s"
    split: dict[str, Phase] = big["phases"]

    def cores(wall: float, *cpu: float) -> str:
        return f"{' + '.join(f'{c:.2f}' for c in cpu)} s CPU in {wall:.2f} s: " \
               f"{sum(cpu) / wall:.1f} of {os.cpu_count()} cores"

    best = f", fastest of {repeat}" if repeat > 1 else ""
    return [
        Row(f"update install, {big['size_mib']} MiB bundle", "end to end (spawn to exit: "
            "download, verify, slot write, fsync)" + best,
            f"{big['install_mbps']:.0f} MiB/s ({big['seconds']:.2f} s)",
            f"curl → tee slot → sha256sum, sync: {big['curl_mbps']:.0f} MiB/s",
            f"{big['curl_ratio']:.2f}x",
            ">= 0.8x"),
        Row("", f"each engine run / the floor run just before it ({len(big['pairs'])} pairs): "
            "median (lowest–highest)", "", "",
            f"{statistics.median(big['pairs']):.2f}x "
            f"({big['pairs'][0]:.2f}–{big['pairs'][-1]:.2f})", ""),
        Row("", "the same, against a bare SHA-256 pass (no network, no write)",
            f"{big['install_mbps']:.0f} MiB/s", hash_floor, f"{big['ratio']:.2f}x", ""),
        Row("", "phase: start (interpreter, imports, TUF refresh)",
            cores(split["start"][0], split["start"][1]), "", "", ""),
        Row("", "CPU of the whole install: engine (all phases) / the floor pipeline",
            f"{big['engine_cpu']:.2f} s", f"curl + tee + sha256sum: {big['floor_cpu']:.2f} s",
            f"{big['engine_cpu'] / big['floor_cpu']:.2f}x" if big["floor_cpu"] else "-", ""),
        Row("", "phase: download + streaming verify",
            f"{big['download_mbps']:.0f} MiB/s ({split['download'][0]:.2f} s)", hash_floor,
            f"{big['download_mbps'] / big['hash_mbps']:.2f}x", ""),
        Row("", "… CPU: engine (read+TLS, hash, write threads) + gateway (TLS, send)",
            cores(split["download"][0], split["download"][1], big["server_cpu"]), "", "", ""),
        Row("", "phase: install (rauc info beside the fsync, rename into the slot)",
            f"{big['slot_mbps']:.0f} MiB/s ({split['install'][0]:.2f} s)", "", "", ""),
        Row("", "… CPU: engine", cores(split["install"][0], split["install"][1]), "", "", ""),
        Row("", "phase: finish (drop download, activate, exit)", f"{split['finish'][0]:.2f} s",
            "", "", ""),
        Row("", "engine peak RSS (VmHWM)", rss, "", "", "<= 64 MiB, flat"),
        Row("", "machine load (1-min average) during the runs",
            f"{big['load_min']:.1f}–{big['load']:.1f}", "", "", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1024", help="bundle sizes in MiB")
    parser.add_argument("--repeat", type=int, default=1,
                        help="installs per size (fresh tablet each); the fastest counts")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    print(markdown(run([int(s) for s in args.sizes.split(",")], args.dir, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One simulated wing for the benchmarks that measure a whole wing against its broker: the
gateway's signing key, the `GatewayService` (run in the benchmark's process) and the agent
configurations of `tablets` tablets (run in child processes, `bench.probe`: 2,000 agents and a
gateway in one process need more descriptors than this machine's hard limit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import AgentConfig
from common.mqtt import BrokerConfig
from gateway.config import GatewayConfig, TabletSeed
from gateway.service import GatewayService
from wire.envelope import private_key_to_pem, public_key_to_pem


def tablet_ids(tablets: int) -> list[str]:
    return [f"t{i:05d}" for i in range(tablets)]


@dataclass
class BenchWing:
    service: GatewayService
    configs: list[AgentConfig]


def bench_wing(workdir: Path, broker: BrokerConfig, tablets: int) -> BenchWing:
    """Wing A under `workdir` on `broker`: two tablets a cell, fifty a landing."""
    key = Ed25519PrivateKey.generate()
    key_path = workdir / "gateway-key.pem"
    key_path.write_bytes(private_key_to_pem(key))
    public_path = workdir / "gateway-key.pub.pem"
    public_path.write_bytes(public_key_to_pem(key.public_key()))
    ids = tablet_ids(tablets)
    service = GatewayService(GatewayConfig(
        wing="A", state_dir=workdir / "gateway", signing_key=key_path,
        api_socket=workdir / "gw.sock", broker=broker,
        tablets=[TabletSeed(id=d, cell=f"c{i // 2}", landing=f"l{i // 50}")
                 for i, d in enumerate(ids)],
    ))
    configs = [
        AgentConfig(device_id=d, wing="A", state_dir=workdir / "tablets" / d,
                    socket=workdir / "s" / f"{d}.sock", gateway_keys=[public_path],
                    broker=broker)
        for d in ids
    ]
    return BenchWing(service, configs)

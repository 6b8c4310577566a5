"""Each wing gateway's summary of its wing (its counts, its rollouts' progress) reaches the
prison through the bridge and shows in `prison status`."""

from __future__ import annotations

import json

from cellbridge.fleet import wait_until
from gateway.rollout import Rollout
from tests.prison.rig import PrisonRig


async def test_each_wings_counts_and_rollout_progress_reach_the_prison_view(rig: PrisonRig):
    async with rig.running():
        service = rig.service
        assert service is not None
        store = service.store

        def counted(wing: str, *, rollout: bool = False) -> bool:
            summary = store.summary(wing)
            count = len(rig.tablets[wing])
            return (summary is not None and (summary.tablets, summary.online) == (count, count)
                    and (not rollout or [r.id for r in summary.rollouts] == ["r1"]))

        await wait_until(lambda: all(counted(w) for w in rig.wings), 20)

        gateway = rig.gateways["B"]
        await gateway.rollouts.start(Rollout(id="r1", target="os/cellbridge-os-2.0.raucb", version="2.0",
                                             canary=("B-01",), rest=("B-02",), by="staff"))
        await wait_until(lambda: counted("B", rollout=True), 20)
        [progress] = store.summary("B").rollouts  # type: ignore[union-attr]
        assert (progress.stage, progress.tablets, progress.not_reached) == ("canary", 2, 1)
        assert store.summary("A").rollouts == ()  # type: ignore[union-attr]

        code, out = await rig.cli("status")
        assert code == 0, out
        assert "rollout r1 2.0: canary; " in out
        count = len(rig.tablets["A"])
        assert "gateway at " in out and f"tablets {count}, online {count}" in out

        code, out = await rig.cli("status", "--json")
        wings = {w["wing"]: w for w in json.loads(out)["wings"]}
        assert wings["B"]["gateway"]["rollouts"][0]["id"] == "r1"

"""`make bench`: every benchmark, each beside its floor measured in the same run."""

from __future__ import annotations

import click

from bench import lock, policy
from bench import tls as tls_bench
from bench.stats import Row, markdown


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--tablets", default=500, show_default=True, help="Simulated tablets for the lock benchmark."
)
@click.option("--samples", default=200, show_default=True, help="Single-tablet lock samples.")
@click.option("--tls/--no-tls", "tls_only", default=None, help="Only mutual TLS / only plain TCP.")
@click.option("--update-sizes", default="100,1024", show_default=True,
              help="OS bundle sizes (MiB) for the update benchmark; empty to skip it.")
@click.option("--policy-tablets", default=2000, show_default=True,
              help="Simulated tablets for the policy publish benchmark (0: skip it).")
@click.option("--idle-seconds", default=180.0, show_default=True,
              help="Idle tablet (agent + shell) measured this long, scaled to an hour (0: skip).")
@click.option("--day-minutes", default=20, show_default=True,
              help="Gateway day: simulated minutes of telemetry measured, scaled (0: skip).")
@click.option("--shell/--no-shell", "with_shell", default=True, show_default=True,
              help="The shell benchmark (cold start, state change to frame, RSS).")
@click.option("--web/--no-web", "with_web", default=True, show_default=True,
              help="The web allow-list benchmarks (decisions; CONNECT through Squid, as root).")
@click.option("--web-tablets", default=200, show_default=True,
              help="Forwarders browsing at once through the web proxy (0: skip that row).")
@click.option("--prison", "prison_shape", default="8x25", show_default=True,
              help="Prison lockdown: WINGSxTABLETS bridged wings against one wing of the same "
                   "total (the issue's full size: 8x500); empty to skip it.")
@click.option("--roll-prisoners", default=1500, show_default=True,
              help="Prisoners in the nightly roll import benchmark, 50 of them moved (0: skip).")
@click.option("--console-tablets", default=2000, show_default=True,
              help="The staff console in Chromium: wing map render and click → all confirmed "
                   "against `staff lock --wait` (0: skip).")
@click.option("--bridge-messages", default=5000, show_default=True,
              help="Bridge throughput: `reported` messages wing → prison over the bridge, "
                   "against the wing broker's local delivery (0: skip it).")
@click.option("--storm-tablets", default=2000, show_default=True,
              help="Reconnect storm: agents reconnecting after a broker SIGKILL and restart "
                   "(0: skip it).")
def main(tablets: int, samples: int, tls_only: bool | None, update_sizes: str,
         policy_tablets: int, idle_seconds: float, day_minutes: int, with_shell: bool,
         with_web: bool, web_tablets: int, prison_shape: str, roll_prisoners: int,
         console_tablets: int, bridge_messages: int, storm_tablets: int) -> None:
    """Run the benchmarks and print their table (paste it into README.md)."""
    rows: list[Row] = []
    for tls in (False, True) if tls_only is None else (tls_only,):
        rows += lock.run(tablets=tablets, samples=samples, tls=tls)
    if tls_only is None:
        rows += tls_bench.memory_rows(tablets)
    rows += policy.evaluation()
    if policy_tablets:
        rows += policy.publish_to_reports(policy_tablets)
    if update_sizes:
        from bench import updates

        rows += updates.run([int(s) for s in update_sizes.split(",")])
    if idle_seconds:
        from bench import idle

        rows += idle.run(idle_seconds)
    if day_minutes:
        from bench import day

        rows += day.run(tablets, day_minutes)
    if with_shell:
        from bench import shell

        rows += shell.run()
    if with_web:
        from bench import web, web_squid

        rows += web.run()
        rows += web_squid.run(tablets=web_tablets)
    from bench import pin

    rows += pin.run()
    if roll_prisoners:
        from bench import prisoners

        rows += prisoners.run(roll_prisoners)
    if prison_shape:
        from bench import prison

        wings, per_wing = (int(n) for n in prison_shape.lower().split("x"))
        rows += prison.run(wings, per_wing)
    if console_tablets:
        from bench import console

        rows += console.run(console_tablets, samples=5)
    if bridge_messages:
        from bench import bridge

        rows += bridge.run(bridge_messages)
    if storm_tablets:
        from bench import storm

        rows += storm.run(storm_tablets)
    click.echo(markdown(rows))


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark, each beside its floor measured in the same run."""

from __future__ import annotations

import click

from bench import lock, policy
from bench import tls as tls_bench
from bench.stats import markdown


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--tablets", default=500, show_default=True, help="Simulated tablets for the lock benchmark."
)
@click.option("--samples", default=200, show_default=True, help="Single-tablet lock samples.")
@click.option("--tls/--no-tls", "tls_only", default=None, help="Only mutual TLS / only plain TCP.")
@click.option("--policy-tablets", default=2000, show_default=True,
              help="Simulated tablets for the policy publish benchmark (0: skip it).")
def main(tablets: int, samples: int, tls_only: bool | None, policy_tablets: int) -> None:
    """Run the benchmarks and print their table (paste it into README.md)."""
    rows = []
    for tls in (False, True) if tls_only is None else (tls_only,):
        rows += lock.run(tablets=tablets, samples=samples, tls=tls)
    if tls_only is None:
        rows += tls_bench.memory_rows(tablets)
    rows += policy.evaluation()
    if policy_tablets:
        rows += policy.publish_to_reports(policy_tablets)
    click.echo(markdown(rows))


if __name__ == "__main__":
    main()

"""The `cellbridge` command. Sub-commands load lazily, so a tablet without the
gateway extra, or a gateway without Kivy, still runs the parts it has."""

from __future__ import annotations

import importlib

import click

from common.cli import OneLineGroup, short_help

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "agent": "agent.cli:agent",
    "shell": "device.cli:shell",
    "gateway": "gateway.cli:gateway",
    "staff": "gateway.staff:staff",
    "demo": "cellbridge.demo:demo",
    "provision": "provisioning.cli:provision",
    "release": "provisioning.release_cli:release",
    "prison": "prison.cli:prison",
}


class LazyGroup(OneLineGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *SUBCOMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise click.ClickException(
                f"'{cmd_name}' is not installed here ({exc.name} missing): "
                "install the cellbridge extra that provides it"
            ) from exc
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except click.ClickException as exc:
                rows.append((name, f"(unavailable: {exc.message})"))
                continue
            if command is not None and not command.hidden:
                rows.append((name, short_help(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cellbridge")
def main() -> None:
    """Cellbridge: in-cell tablets, their wing gateways, and the tools to run them."""


if __name__ == "__main__":
    main()

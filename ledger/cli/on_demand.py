"""The command group whose commands' modules are imported only when one of their commands is looked up.

Every ``ledger`` command is a process of its own, and a person waits for
all of it, start-up included. Importing every command module at start-up
loaded the what-if, the sweep, the audit, the reports and the web console
for ``ledger account`` and ``ledger ingest`` alike. Here each command is
named beside the module that holds it, and that module is imported when
the command is looked up: to run it, for its ``--help``, or to complete its
name in a shell. This is click's own pattern for lazily loaded subcommands
("Lazily Loading Subcommands" in its documentation);
``tests/test_cli_on_demand.py`` checks that the table names exactly the
commands each module defines.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import click

__all__ = ["OnDemandGroup"]


class OnDemandGroup(click.Group):
    """A ``click.Group`` that imports a command's module when the command is first looked up.

    Each module listed must define ``COMMANDS``, the commands it holds; all of them are added when it is imported.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules: dict[str, str] = {}
        """command name -> the module that defines it (imported when one of its commands is first looked up)"""

    def add_modules(self, table: Mapping[str, tuple[str, ...]]) -> None:
        """Name, for each module (a dotted path), the commands it defines: imported when one of them is looked up."""
        for module, names in table.items():
            for name in names:
                if name in self.modules or name in self.commands:
                    raise ValueError(f"command {name!r} is named twice")
                self.modules[name] = module

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.modules})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.modules:
            self._import(self.modules[cmd_name])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str],
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """As click resolves it; a name no module defines first imports every module, so that click's refusal (``No
        such command 'acount'. Did you mean 'account'?``) suggests from every command, as it did when all were
        imported at start-up. Only a mistyped command pays for it."""
        if args and not ctx.resilient_parsing and args[0] not in self.commands and args[0] not in self.modules:
            for module in dict.fromkeys(self.modules.values()):
                self._import(module)
        return super().resolve_command(ctx, args)

    def _import(self, module: str) -> None:
        commands: Sequence[click.Command] = importlib.import_module(module).COMMANDS
        mistaken = [command.name for command in commands if self.modules.get(str(command.name)) != module]
        if mistaken:
            raise RuntimeError(f"{module} defines {mistaken[0]!r}, which the command table does not give it")
        for command in commands:
            self.add_command(command)

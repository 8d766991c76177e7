"""The ``ledger`` command line: a thin shell over ``Ledger`` and the services.

``app`` holds the group, output helpers and the entry point; the command
modules hold the commands, added to the group here, explicitly.
"""

from ledger.cli import compliance_commands, ingest_command, ledger_commands, owner_commands, serve_command
from ledger.cli.app import cli, main

for _command in (*ledger_commands.COMMANDS, *ingest_command.COMMANDS, *owner_commands.COMMANDS,
                 *compliance_commands.COMMANDS, *serve_command.COMMANDS):
    cli.add_command(_command)

__all__ = ["cli", "main"]

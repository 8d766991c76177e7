"""The ``ledger`` command line: a thin shell over ``Ledger`` and the services.

``app`` holds the group, output helpers and the entry point; the command
modules hold the commands, named here beside their module, explicitly; a
module is imported only when one of its commands is looked up
(``cli.on_demand``: a command's process does not load the others').
"""

from ledger.cli.app import cli, main

COMMAND_MODULES = {
    "ledger.cli.ledger_commands": ("init", "balances", "account", "verify", "keygen", "seal", "rotate-key", "anchor",
                                   "rules", "liquidations", "bankruptcies", "deleverages"),
    "ledger.cli.ingest_command": ("ingest",),
    "ledger.cli.owner_commands": ("grant",),
    "ledger.cli.compliance_commands": ("audit", "explain", "whatif", "sweep", "report"),
    "ledger.cli.backoffice_commands": ("history", "reconcile", "export"),
    "ledger.cli.serve_command": ("serve",),
}
"""Each command module and the commands it defines (``COMMANDS``), in the order they were written."""

cli.add_modules(COMMAND_MODULES)

__all__ = ["cli", "main", "COMMAND_MODULES"]

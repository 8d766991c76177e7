"""Commands for the schema's owner, not for the role the ledger runs as: ``grant``.

On PostgreSQL the owner creates and migrates the schema (``ledger init``) and
the daily commands run as a role that may read and append and nothing else;
what that role needs is decided in one place (``ledger.store.grants``), so
the owner never writes GRANT statements by hand (the ones the docs once
prescribed left every command failing).
"""

from __future__ import annotations

import sys

import click

from ledger.app.ledger import Ledger
from ledger.cli.app import open_ledger


@click.command()
@click.argument("role")
@click.option("--sql", "as_sql", is_flag=True, help="Print the statements (for psql) instead of running them.")
@click.pass_context
def grant(ctx: click.Context, role: str, as_sql: bool) -> None:
    """Give ROLE exactly the privileges the daily commands need (PostgreSQL), and check it holds no more.

    Run it as the schema's owner (the --db user that ran `ledger init`), again after every `ledger init` that
    migrated. ROLE may then read every table, append to the log, its seals and key rotations, and write and thin
    the snapshot cache; never UPDATE, DELETE or TRUNCATE the log. Exit 1, naming what, when ROLE can still do
    more (a superuser, the tables' owner, a grant to PUBLIC). With --sql, print the statements and run nothing.
    """
    if as_sql:
        click.echo("\n".join(Ledger.grant_statements(role)))
        return
    with open_ledger(ctx) as ledger:
        beyond = ledger.grant(role)
        url = ledger.url
    click.echo("\n".join(Ledger.grant_statements(role)))
    if beyond:
        click.echo(f"error: granted in {url}, but {role} can do more than the ledger needs:", err=True)
        click.echo("\n".join(f"  {line}" for line in beyond), err=True)
        sys.exit(1)
    click.echo(f"{role} holds exactly the privileges the daily commands need in {url}")


COMMANDS = (grant,)

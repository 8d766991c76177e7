"""The ``ledger`` command run in this process through ``main``, so that exit statuses are the real ones."""

from __future__ import annotations

import click
from click.testing import CliRunner

from ledger.cli import main

__all__ = ["run", "ok"]


def run(url: str, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process through ``main`` (so exit statuses are the real ones)."""
    runner = CliRunner()
    result = runner.invoke(_main_as_command, ["--db", url, *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def _main_as_command(ctx):
    main(ctx.args)


def ok(url: str, *args: str) -> str:
    """A setup step: the command must succeed (exit 0); its standard output."""
    code, out, err = run(url, *args)
    assert code == 0, f"ledger {' '.join(args)} exited {code}: {err}"
    return out

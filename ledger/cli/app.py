"""The ``ledger`` command group, its output helpers, and the entry point.

Exit status (contract): 0 success; 1 the check found a problem (verify,
audit, reconcile); 2 bad input or usage, with the message naming the file and
line or the event id.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.app.ledger import DEFAULT_FUTURE_TOLERANCE, DEFAULT_URL, Ledger
from ledger.domain.timefmt import parse_time
from ledger.errors import InvalidBatch, InvalidEvent, LedgerError, NotInitialised

__all__ = ["main", "cli", "FORMATS", "TIME", "open_ledger", "progress", "print_json", "print_rows", "print_records"]

FORMATS = click.Choice(["table", "json", "csv"])


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param, ctx) -> datetime:
        try:
            return parse_time(value, param.name if param else "time")
        except InvalidEvent as exc:
            self.fail(str(exc), param, ctx)


TIME = _Time()


def open_ledger(ctx: click.Context) -> Ledger:
    return Ledger.open(ctx.obj["db"], future_tolerance=timedelta(seconds=ctx.obj["future_tolerance"]), key=ctx.obj["key"])


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long replays and ingests (only on a terminal)."""
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_rows(rows: Sequence[dict[str, Any]], fmt: str, title: str, columns: Sequence[str] | None = None) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in _NUMERIC else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(width=200).print(table)


def print_records(records: Sequence[dict[str, Any]], fmt: str, title: str, columns: Sequence[str] | None = None) -> None:
    """Records as a JSON array, or as table or CSV rows of ``columns``."""
    if fmt == "json":
        print_json(records)
    else:
        print_rows(records, fmt, title, columns)


_NUMERIC = {"amount", "qty", "price", "penalty", "equity_before", "maintenance_before", "equity_after", "seq"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="LEDGER_DB", default=DEFAULT_URL, show_default=True, help="Database URL ($LEDGER_DB).")
@click.option("--future-tolerance", envvar="LEDGER_FUTURE_TOLERANCE", type=click.IntRange(min=0),
              default=int(DEFAULT_FUTURE_TOLERANCE.total_seconds()), show_default=True,
              help="Seconds an ingested event's business time may be past its recording time "
                   "($LEDGER_FUTURE_TOLERANCE); later ones are refused.")
@click.option("--key", envvar="LEDGER_KEY", default=None, metavar="FILE",
              help="Ed25519 key file ($LEDGER_KEY; `ledger keygen`): a private key seals every append and snapshot "
                   "and verifies seals; a public key verifies only. Without one the log is not sealed.")
@click.pass_context
def cli(ctx: click.Context, db: str, future_tolerance: int, key: str | None) -> None:
    """An event-sourced ledger for leveraged trading accounts."""
    ctx.ensure_object(dict).update(db=db, future_tolerance=future_tolerance, key=key or None)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ledger errors become exit status 2 with their message."""
    try:
        cli.main(args=argv, prog_name="ledger", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted: nothing was changed by the interrupted command", err=True)
        sys.exit(130)
    except (InvalidBatch, InvalidEvent, NotInitialised) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except LedgerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

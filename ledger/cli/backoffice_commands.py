"""Commands for back-office: history, reconcile, export.

Kept apart from the compliance commands because they are the daily work of
the people who reconcile: a module of their own imports none of the
what-if's, the sweep's or the audit's modules (``cli.on_demand``). Each
prints data as table, JSON or CSV, and shows a progress bar while it replays
a long history.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import click

from ledger.app.views import HISTORY_COLUMNS, counted, history_csv, history_table_rows
from ledger.cli.app import (
    FORMATS,
    TIME,
    Time,
    check_window,
    figures_for,
    open_ledger,
    print_json,
    print_rows,
    progress,
    safe_csv,
    safe_csv_option,
)
from ledger.domain.money import parse_decimal
from ledger.domain.timefmt import format_time
from ledger.errors import InvalidEvent


@click.command()
@click.argument("account")
@click.option("--from", "start", type=TIME, help="First business time shown.")
@click.option("--to", "end", type=TIME, help="Last business time shown.")
@click.option("--known-at", "known_at", type=TIME, help="What the ledger knew at this recorded time (bitemporal).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N rows.")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N rows.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def history(
    ctx: click.Context, account: str, start: Time, end: Time, known_at: Time, limit: int | None, tail: int | None, fmt: str,
) -> None:
    """An account's events in order, with running cash, positions and equity (paged on a terminal when long)."""
    check_window(start, end)
    if limit is not None and tail is not None:
        raise click.UsageError("--limit and --tail cannot be used together")
    with open_ledger(ctx) as ledger:
        figures = figures_for(ctx, ledger, fmt)
        with progress("replaying", ledger.head_seq()) as advance:
            rows = ledger.history(account, start=start, end=end, known_at=known_at, progress=advance, figures=figures)
    rows = rows[:limit] if limit is not None else rows[-tail:] if tail is not None else rows
    if fmt == "json":  # each figure beside its asset's or market's name, never in one cell with it
        print_json(rows)
    elif fmt == "csv":
        columns, flat = history_csv(rows)
        print_rows(flat, fmt, f"History of {account}", columns)
    else:
        print_rows(history_table_rows(rows), fmt, f"History of {account}", HISTORY_COLUMNS, page=True,
                   essential=["seq", "at", "type", "id", "what", "cash", "equity"])


def _decimal_option(value: str | None, name: str) -> Decimal:
    try:
        return parse_decimal(value or "0", name)
    except InvalidEvent as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{name}") from None


@click.command()
@click.argument("statement", type=click.Path(dir_okay=False))
@click.option("--as-of", "as_of", type=TIME, help="Compare with the ledger as of this business time.")
@click.option("--tolerance", default="0", show_default=True, help="Largest difference that is not a break.")
@click.option("--include-system", is_flag=True, help="Also break on system balances the statement does not list.")
@click.option("--encoding", default="utf-8", show_default=True,
              help="The statement's text encoding (a spreadsheet on Windows often saves cp1252).")
@click.option("--delimiter", default=",", show_default=True, help="The column separator: a character, or 'tab'.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def reconcile(ctx: click.Context, statement: str, as_of: datetime | None, tolerance: str, include_system: bool,
              encoding: str, delimiter: str, fmt: str) -> None:
    """Compare balances with an external statement; exit 1 on breaks.

    \b
    The statement is CSV in one of two shapes:
      account,asset,balance     cash: alice,USD,997.5; isolated margin: bob@BTC-PERP,USD,1223.5;
                                system account: system:insurance_fund,USD,0
      account,market,size       positions: alice,BTC-PERP,0.5
    """
    limit = _decimal_option(tolerance, "tolerance")
    separator = "\t" if delimiter == "tab" else delimiter
    if len(separator) != 1:
        raise click.UsageError(f"--delimiter must be one character or 'tab', got {delimiter!r}")
    try:
        "".encode(encoding)
    except LookupError:
        raise click.UsageError(f"--encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, cp1252, "
                               "latin-1)") from None
    with open_ledger(ctx) as ledger, progress("replaying", ledger.head_seq()) as advance:
        lines, breaks = ledger.reconcile(statement, as_of=as_of, tolerance=limit, include_system=include_system,
                                         progress=advance, encoding=encoding, delimiter=separator)
    if fmt == "json":
        print_json({"as_of": format_time(as_of) if as_of else None, "tolerance": tolerance, "breaks": breaks})
    elif fmt == "csv" or breaks:
        print_rows(breaks, fmt, f"{len(breaks)} break(s)",
                   ["kind", "account", "asset", "ledger", "statement", "difference", "where"])
    else:
        click.echo(f"no breaks: {counted(lines, 'statement line')} {'agrees' if lines == 1 else 'agree'} within {tolerance}")
    if breaks:
        sys.exit(1)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), required=True)
@safe_csv_option
@click.option("--out", type=click.Path(file_okay=False), default="export", show_default=True)
@click.option("--as-of", "as_of", type=TIME, help="The events up to this business time, and the balances then.")
@click.pass_context
def export(ctx: click.Context, fmt: str, out: str, as_of: Time) -> None:
    """Export the events, the replayed balances (the reconcile statement's shape) and positions, for analysts."""
    with open_ledger(ctx) as ledger:
        with progress("exporting", ledger.head_seq()) as advance:
            try:
                counts = ledger.export(Path(out), fmt, advance, as_of=as_of, safe_csv=safe_csv())
            except KeyboardInterrupt:
                click.echo(f"export interrupted: nothing written to {out} (an earlier export there is as it was)",
                           err=True)
                raise
    click.echo(", ".join(f"{name}: {n} rows to {Path(out) / f'{name}.{fmt}'}" for name, n in counts.items()))


COMMANDS = (history, reconcile, export)

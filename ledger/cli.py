"""The ``ledger`` command (also ``python -m ledger``): a thin shell over ``Ledger``.

Exit status (contract): 0 success; 1 the check found a problem (verify
failure); 2 bad input or usage, with the message naming the file and line or
the event id.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ledger.domain.codec import format_time, parse_time
from ledger.domain.money import to_str
from ledger.domain.state import LedgerState
from ledger.errors import InvalidBatch, InvalidEvent, LedgerError, NotInitialised
from ledger.services import reports
from ledger.services.ledger import DEFAULT_URL, Ledger

__all__ = ["main", "cli"]

FORMATS = click.Choice(["table", "json", "csv"])


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param, ctx) -> datetime:
        try:
            return parse_time(value, param.name if param else "time")
        except InvalidEvent as exc:
            self.fail(str(exc), param, ctx)


TIME = _Time()


def _open(ctx: click.Context) -> Ledger:
    return Ledger.open(ctx.obj["db"])


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long replays and ingests (only on a terminal)."""
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _replay(ledger: Ledger, **cut) -> LedgerState:
    with _progress("replaying", ledger.head_seq()) as advance:
        return ledger.state(progress=advance, **cut)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_rows(rows: Sequence[dict[str, Any]], fmt: str, title: str, columns: Sequence[str] | None = None) -> None:
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


_NUMERIC = {"amount", "qty", "price", "penalty", "equity_before", "maintenance_before", "equity_after", "seq"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="LEDGER_DB", default=DEFAULT_URL, show_default=True, help="Database URL ($LEDGER_DB).")
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """An event-sourced ledger for leveraged trading accounts."""
    ctx.ensure_object(dict)["db"] = db


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    with _open(ctx) as ledger:
        ledger.init()
        click.echo(f"ledger schema is at head in {ledger.url}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def ingest(ctx: click.Context, file: str) -> None:
    """Ingest a JSON Lines file atomically (every line or nothing)."""
    size = Path(file).stat().st_size if Path(file).is_file() else None
    with _open(ctx) as ledger, _progress(f"ingesting {file}", size) as advance:
        result = ledger.ingest_file(file, progress=advance)
    click.echo(
        f"{file}: {result.appended} appended, {result.skipped} already stored, "
        f"{result.engine_events} engine events (liquidations/bankruptcies); head is now #{result.head_seq}"
    )


@cli.command()
@click.option("--as-of", "as_of", type=TIME, help="Business time (ISO-8601 UTC): state after the last event at or before it.")
@click.option("--seq", type=click.IntRange(min=0), help="State after this sequence number.")
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def balances(ctx: click.Context, as_of: datetime | None, seq: int | None, account: str | None, fmt: str) -> None:
    """Cash, positions and equity per account, and system balances, as replayed."""
    with _open(ctx) as ledger:
        state = _replay(ledger, as_of=as_of, seq=seq)
    report = reports.balances(state, account)
    if as_of is not None:
        report["as_of"] = format_time(as_of)
    if fmt == "json":
        _print_json(report)
    else:
        _print_rows(reports.balance_rows(report), fmt, f"Balances as of {report['as_of']} (#{report['seq']})")


@cli.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute the hash chain; exit 1 naming the first broken event."""
    with _open(ctx) as ledger:
        report = ledger.verify()
    if report.ok:
        click.echo(f"ok: {report.events_checked} events, chain head {report.head_hash}")
        return
    click.echo(f"BROKEN at #{report.first_bad_seq} (event {report.first_bad_event}): {report.problem}", err=True)
    click.echo(f"{report.events_checked} events before it verify", err=True)
    sys.exit(1)


@cli.group()
def rules() -> None:
    """Rule versions and their activation history."""


@rules.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def rules_list(ctx: click.Context, fmt: str) -> None:
    """Registered versions (one line each) and the activation history."""
    from rules import registry

    with _open(ctx) as ledger:
        state = _replay(ledger)
    report = reports.rules_report(state, {name: rule.summary for name, rule in registry.REGISTRY.items()})
    if fmt == "json":
        _print_json(report)
        return
    _print_rows(report["versions"], "table", "Registered rule versions")
    _print_rows(report["activations"], "table", f"Activations (in force: {report['in_force'] or 'none'})", ["event_id", "at", "version"])


@cli.command()
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def liquidations(ctx: click.Context, account: str | None, fmt: str) -> None:
    """The liquidation engine's closes, oldest first, with the figures behind them."""
    with _open(ctx) as ledger:
        records = [reports.liquidation_record(row, event) for row, event in ledger.liquidations(account)]
    if fmt == "json":
        _print_json(records)
        return
    columns = ["id", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger",
               "equity_before", "maintenance_before", "target_before", "equity_after", "maintenance_after"]
    _print_rows(records, fmt, "Liquidations", columns)


@cli.command()
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def bankruptcies(ctx: click.Context, account: str | None, fmt: str) -> None:
    """Bankruptcies: deficits, what the insurance fund covered, socialized losses."""
    with _open(ctx) as ledger:
        rows = [
            {"id": e.id, "seq": row.seq, "at": format_time(e.at), "account": e.account, "asset": e.asset,
             "deficit": to_str(e.deficit), "fund_before": to_str(e.fund_before),
             "insurance_covered": to_str(e.insurance_covered), "socialized_loss": to_str(e.socialized_loss),
             "rule_version": e.rule_version, "trigger": e.trigger}
            for row, e in ledger.engine_events(account) if e.TYPE == "bankruptcy"
        ]
    if fmt == "json":
        _print_json(rows)
    else:
        _print_rows(rows, fmt, "Bankruptcies", ["id", "account", "asset", "deficit", "insurance_covered", "socialized_loss", "trigger"])


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

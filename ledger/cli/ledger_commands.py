"""Commands over the log itself: init, ingest, balances, verify, rules, liquidations."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from ledger.app.views import balance_rows
from ledger.cli.app import FORMATS, TIME, open_ledger, print_json, print_records, print_rows, progress


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    with open_ledger(ctx) as ledger:
        ledger.init()
        click.echo(f"ledger schema is at head in {ledger.url}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def ingest(ctx: click.Context, file: str) -> None:
    """Ingest a JSON Lines file atomically (every line or nothing)."""
    size = Path(file).stat().st_size if Path(file).is_file() else None
    with open_ledger(ctx) as ledger, progress(f"ingesting {file}", size) as advance:
        result = ledger.ingest_file(file, progress=advance)
    click.echo(
        f"{file}: {result.appended} appended, {result.skipped} already stored, "
        f"{result.engine_events} engine events (liquidations/bankruptcies); head is now #{result.head_seq}"
    )


@click.command()
@click.option("--as-of", "as_of", type=TIME, help="Business time (ISO-8601 UTC): state after the last event at or before it.")
@click.option("--seq", type=click.IntRange(min=0), help="State after this sequence number.")
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def balances(ctx: click.Context, as_of: datetime | None, seq: int | None, account: str | None, fmt: str) -> None:
    """Cash, positions and equity per account, and system balances, as replayed."""
    with open_ledger(ctx) as ledger, progress("replaying", ledger.head_seq()) as advance:
        report = ledger.balances(as_of=as_of, seq=seq, account=account, progress=advance)
    _print_balances(report, fmt, "Balances")


def _print_balances(report: dict, fmt: str, title: str) -> None:
    if fmt == "json":
        print_json(report)
    else:
        print_rows(balance_rows(report), fmt, f"{title} as of {report['as_of']} (#{report['seq']})")


@click.command()
@click.argument("name")
@click.option("--as-of", "as_of", type=TIME, help="Business time (ISO-8601 UTC): after the last event at or before it.")
@click.option("--seq", type=click.IntRange(min=0), help="After this sequence number.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def account(ctx: click.Context, name: str, as_of: datetime | None, seq: int | None, fmt: str) -> None:
    """One account's balances, replayed from its own stream (fast however long the log is).

    The same figures as ``balances --account NAME``, without the system
    balances (those need the whole log). Exit 2 if the account has no events.
    """
    with open_ledger(ctx) as ledger:
        report = ledger.account_balances(name, as_of=as_of, seq=seq)
    if name not in report["accounts"]:
        raise click.UsageError(f"account {name!r} has no events up to #{report['seq']}")
    _print_balances(report, fmt, f"Account {name}")


@click.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute the hash chain; exit 1 naming the first broken event."""
    with open_ledger(ctx) as ledger:
        report = ledger.verify()
    if report.ok:
        click.echo(f"ok: {report.events_checked} events, chain head {report.head_hash}")
        return
    click.echo(f"BROKEN at #{report.first_bad_seq} (event {report.first_bad_event}): {report.problem}", err=True)
    click.echo(f"{report.events_checked} events before it verify", err=True)
    sys.exit(1)


@click.group()
def rules() -> None:
    """Rule versions and their activation history."""


@rules.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def rules_list(ctx: click.Context, fmt: str) -> None:
    """Registered versions (one line each, then each one's parameters: meaning and range) and the activation history."""
    with open_ledger(ctx) as ledger, progress("replaying", ledger.head_seq()) as advance:
        report = ledger.rules_report(advance)
    if fmt == "json":
        print_json(report)
        return
    print_rows(report["versions"], "table", "Registered rule versions", ["version", "summary"])
    for version in report["versions"]:
        print_rows(version["parameters"], "table", f"Parameters of {version['version']}", ["name", "meaning", "range"])
    print_rows(report["activations"], "table", f"Activations (in force: {report['in_force'] or 'none'})",
               ["event_id", "at", "version"])


@click.command()
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def liquidations(ctx: click.Context, account: str | None, fmt: str) -> None:
    """The liquidation engine's closes, oldest first, with the figures behind them."""
    columns = ["id", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger",
               "equity_before", "maintenance_before", "target_before", "equity_after", "maintenance_after"]
    with open_ledger(ctx) as ledger:
        records = ledger.liquidation_records(account)
    print_records(records, fmt, "Liquidations", columns)


@click.command()
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def bankruptcies(ctx: click.Context, account: str | None, fmt: str) -> None:
    """Bankruptcies: deficits, what the insurance fund covered, socialized losses."""
    columns = ["id", "account", "asset", "deficit", "insurance_covered", "socialized_loss", "trigger"]
    with open_ledger(ctx) as ledger:
        records = ledger.bankruptcy_records(account)
    print_records(records, fmt, "Bankruptcies", columns)


COMMANDS = (init, ingest, balances, account, verify, rules, liquidations, bankruptcies)

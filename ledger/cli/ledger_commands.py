"""Commands over the log itself: init, balances, verify, rules, liquidations (ingest: ``cli.ingest_command``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ledger.app.ledger import Ledger
from ledger.app.views import (
    POSITION_COLUMNS,
    STATEMENT_COLUMNS,
    Figures,
    balance_rows,
    counted,
    position_rows,
    record_table_rows,
    statement_rows,
)
from ledger.cli.app import (
    FORMATS,
    TIME,
    check_point,
    check_window,
    figures_for,
    open_ledger,
    print_json,
    print_records,
    print_rows,
    progress,
    safe_csv_option,
)
from ledger.domain.timefmt import format_time


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    with open_ledger(ctx) as ledger:
        ledger.init()
        click.echo(f"ledger schema is at head in {ledger.url}")


@click.command()
@click.option("--as-of", "as_of", type=TIME, help="Business time (ISO-8601 UTC): state after the last event at or before it.")
@click.option("--seq", type=click.IntRange(min=0), help="State after this sequence number.")
@click.option("--account", help="Only this account.")
@click.option("--positions", is_flag=True, help="Positions, one column per field (CSV: account,market,size,...).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def balances(ctx: click.Context, as_of: datetime | None, seq: int | None, account: str | None, positions: bool,
             fmt: str) -> None:
    """Cash, positions and equity per account, and system balances, as replayed."""
    check_point(as_of, seq)
    with open_ledger(ctx) as ledger, progress("replaying", ledger.head_seq()) as advance:
        report = ledger.balances(as_of=as_of, seq=seq, account=account, progress=advance)
        figures = figures_for(ctx, ledger, fmt)
    if account is not None and account not in report["accounts"]:
        raise click.UsageError(f"account {account!r} has no events up to #{report['seq']}")  # exit 2, as `account`
    if account is not None and fmt != "json":  # that account, not every system account too (the JSON keeps the contract)
        report = {key: value for key, value in report.items() if key != "system"}
    _print_balances(report, fmt, "Balances" if account is None else f"Account {account}", figures, positions)


def _print_balances(report: dict[str, Any], fmt: str, title: str, figures: Figures, positions: bool = False) -> None:
    """JSON (the contract); CSV as the reconcile statement takes it (``account,asset,balance``, or with
    ``--positions`` one column per field of each position), both exact; a table for people, at display scales."""
    heading = f"{title} as of {report['as_of']} (#{report['seq']})"
    if fmt == "json":
        print_json(report)
    elif positions:
        print_rows(position_rows(report, figures), fmt, f"Positions: {heading}", POSITION_COLUMNS,
                   essential=["account", "market", "size", "entry_price", "mark_price", "unrealized_pnl",
                              "liquidation_price"])
    elif fmt == "csv":
        print_rows(statement_rows(report), fmt, heading, STATEMENT_COLUMNS)
    else:
        print_rows(balance_rows(report, figures), fmt, heading)


@click.command()
@click.argument("name")
@click.option("--as-of", "as_of", type=TIME, help="Business time (ISO-8601 UTC): after the last event at or before it.")
@click.option("--seq", type=click.IntRange(min=0), help="After this sequence number.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def account(ctx: click.Context, name: str, as_of: datetime | None, seq: int | None, fmt: str) -> None:
    """One account's balances, replayed from its own stream (fast however long the log is).

    The same figures as ``balances --account NAME``, without the system
    balances (those need the whole log). Exit 2 if the account has no events.
    """
    check_point(as_of, seq)
    with open_ledger(ctx) as ledger:
        report = ledger.account_balances(name, as_of=as_of, seq=seq)
        figures = figures_for(ctx, ledger, fmt)
    if name not in report["accounts"]:
        raise click.UsageError(f"account {name!r} has no events up to #{report['seq']}")
    _print_balances(report, fmt, f"Account {name}", figures)


@click.command()
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="An anchor written by `ledger anchor`: the log must still hold its event with its hash.")
@click.pass_context
def verify(ctx: click.Context, anchor_file: str | None) -> None:
    """Recompute the hash chain and check every seal (with a key); exit 1 naming the first broken event."""
    anchor = None
    if anchor_file is not None:
        try:
            anchor = json.loads(Path(anchor_file).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"{anchor_file}: not an anchor (JSON from `ledger anchor`): {exc}") from None
    with open_ledger(ctx) as ledger:
        report = ledger.verify(None if anchor_file is None else anchor if isinstance(anchor, dict) else {})
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if report.ok:
        sealed = f", {counted(report.seals_checked, 'seal')}" if report.seals_checked else ""
        click.echo(f"ok: {counted(report.events_checked, 'event')}{sealed}, chain head {report.head_hash}")
        return
    where = f"#{report.first_bad_seq}" + (f" (event {report.first_bad_event})" if report.first_bad_event else "")
    click.echo(f"BROKEN at {where}: {report.problem}", err=True)
    click.echo(f"{counted(report.events_checked, 'event')} of the chain verify", err=True)
    sys.exit(1)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
def keygen(path: str) -> None:
    """Create an Ed25519 key: PATH (private, owner-only) and PATH.pub (public). Refuses to overwrite either.

    Keep the private key outside the database, where appends run ($LEDGER_KEY); give the public key to whoever
    verifies.
    """
    private, public, key_id = Ledger.generate_key(path)
    click.echo(f"private key {private} (keep it secret, outside the database), public key {public}, key id {key_id}")


@click.command()
@click.pass_context
def seal(ctx: click.Context) -> None:
    """Vouch for the log as it is now: seal, with the key, every event after the last valid seal.

    A keyed append never seals rows it did not write (a log kept without a key, rows someone wrote without it):
    run `ledger verify` and `ledger audit` first, then this. Refused when the last seal does not verify.
    """
    with open_ledger(ctx) as ledger:
        sealed = ledger.seal()
        keyring = ledger.store.keyring
    named = f" with key {keyring.key_id}" if keyring is not None else ""
    click.echo("every event is sealed: nothing to vouch for" if sealed is None
               else f"sealed events #{sealed[0]} to #{sealed[1]}{named}")


@click.command("rotate-key")
@click.argument("new_key", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
def rotate_key(ctx: click.Context, new_key: str) -> None:
    """Retire the key in use (--key or $LEDGER_KEY) for NEW_KEY (a private key from `ledger keygen`).

    Both keys sign the hand-over, after the head; every event must be sealed first. From then on appends need
    NEW_KEY, and either key's public half verifies the whole log. Give the new public key to whoever verifies.
    """
    with open_ledger(ctx) as ledger:
        after, key_id = ledger.rotate_key(new_key)
        old = ledger.store.keyring
    retired = f"key {old.key_id}" if old is not None else "the old key"
    click.echo(f"{retired} seals events up to #{after}; key {key_id} seals every append after it: "
               f"use {new_key} as --key / $LEDGER_KEY from now on")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the anchor here (default: stdout).")
@click.pass_context
def anchor(ctx: click.Context, out: str | None) -> None:
    """Print the head (sequence, hash, and its seal with a key) to keep outside the database; see verify --anchor."""
    with open_ledger(ctx) as ledger:
        record = ledger.anchor()
    text = json.dumps(record, indent=2, sort_keys=True)
    if out is None:
        click.echo(text)
    else:
        Path(out).write_text(text + "\n", encoding="utf-8")
        click.echo(f"anchor of #{record['seq']} written to {out}")


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
    allocation = report["loss_allocation"]
    print_rows(allocation["policies"], "table", "Registered loss-allocation policies", ["version", "summary"])
    for policy in allocation["policies"]:
        if policy["parameters"]:
            print_rows(policy["parameters"], "table", f"Parameters of {policy['version']}", ["name", "meaning", "range"])
    print_rows(allocation["activations"], "table", f"Loss-allocation activations (in force: {allocation['in_force']})",
               ["event_id", "at", "version"])


def _in_window(records: list[dict[str, Any]], start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """The records whose business time ``at`` is within ``--from``/``--to`` (each bound included when given)."""
    return [r for r in records if (start is None or r["at"] >= format_time(start))
            and (end is None or r["at"] <= format_time(end))]


def _engine_options(account_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options every list of the engine's records takes: one account, a window of business time, a format."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed([
            click.option("--account", help=account_help),
            click.option("--from", "start", type=TIME, help="First business time shown."),
            click.option("--to", "end", type=TIME, help="Last business time shown."),
            click.option("--format", "fmt", type=FORMATS, default="table", show_default=True),
        ]):
            command = option(command)
        return safe_csv_option(command)
    return decorate


@click.command()
@_engine_options("Only this account.")
@click.pass_context
def liquidations(ctx: click.Context, account: str | None, start: datetime | None, end: datetime | None, fmt: str) -> None:
    """The liquidation engine's closes, oldest first, with the figures behind them (and why)."""
    check_window(start, end)
    columns = ["id", "at", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger", "reason",
               "equity_before", "maintenance_before", "target_before", "equity_after", "maintenance_after"]
    with open_ledger(ctx) as ledger:
        records = ledger.liquidation_records(account)
        figures = figures_for(ctx, ledger, fmt)
    records = _in_window(records, start, end)
    print_records(records if fmt != "table" else record_table_rows(records, figures), fmt, "Liquidations", columns,
                  essential=["id", "at", "account", "market", "side", "qty", "price", "penalty", "reason"])


@click.command()
@click.option("--account", help="Only this account.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def bankruptcies(ctx: click.Context, account: str | None, fmt: str) -> None:
    """Bankruptcies: deficits, what the insurance fund and auto-deleveraging covered, socialized losses."""
    columns = ["id", "account", "asset", "deficit", "insurance_covered", "adl_covered", "socialized_loss", "trigger"]
    with open_ledger(ctx) as ledger:
        records = ledger.bankruptcy_records(account)
        figures = figures_for(ctx, ledger, fmt)
    print_records(records if fmt != "table" else record_table_rows(records, figures), fmt, "Bankruptcies", columns,
                  essential=["id", "account", "asset", "deficit", "insurance_covered", "adl_covered", "socialized_loss"])


@click.command()
@_engine_options("Only this account's fills.")
@click.pass_context
def deleverages(ctx: click.Context, account: str | None, start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Auto-deleveraging fills, oldest first: who closed how much at the mark, the haircut, the ADL price, and the
    bankruptcy whose residual it paid (the loss-allocation policy in force decided them)."""
    check_window(start, end)
    columns = ["id", "at", "account", "market", "side", "qty", "mark", "haircut", "adl_price", "bankrupt_account",
               "bankruptcy", "rank"]
    with open_ledger(ctx) as ledger:
        records = ledger.deleverage_records(account)
        figures = figures_for(ctx, ledger, fmt)
    records = _in_window(records, start, end)
    shown = records if fmt != "table" else [
        {**r, "qty": figures.quantity(r["qty"], r["market"]), "mark": figures.price(r["mark"], r["market"]),
         "adl_price": figures.price(r["adl_price"], r["market"]), "haircut": figures.money(r["haircut"], r["asset"])}
        for r in records]
    print_records(shown, fmt, "Auto-deleveraging fills", columns,
                  essential=["id", "account", "market", "side", "qty", "haircut", "bankrupt_account", "rank"])


COMMANDS = (init, balances, account, verify, keygen, seal, rotate_key, anchor, rules, liquidations, bankruptcies,
            deleverages)

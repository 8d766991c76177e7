"""The ``ledger`` command group, its output helpers, and the entry point.

Exit status (contract): 0 success; 1 the check found a problem (verify,
audit, reconcile); 2 bad input or usage, with the message naming the file and
line or the event id.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ledger import gc_policy
from ledger.app import failures
from ledger.app.clock import system_clock
from ledger.app.ledger import DEFAULT_FUTURE_TOLERANCE, DEFAULT_PRICE_BAND, DEFAULT_URL, MAX_PRICE_BAND, Ledger
from ledger.app.views import EXACT, Figures, parse_scale_overrides
from ledger.cli import tables
from ledger.cli.on_demand import OnDemandGroup
from ledger.domain.csvcells import write_csv
from ledger.domain.money import parse_decimal
from ledger.domain.timefmt import parse_time
from ledger.errors import InvalidEvent

__all__ = [
    "main", "cli", "FORMATS", "safe_csv_option", "safe_csv", "TIME", "check_window", "open_ledger", "progress", "print_json",
    "print_rows", "print_records", "StaysUp", "Time",
]

FORMATS = click.Choice(["table", "json", "csv"])

_Command = Callable[..., None]


def safe_csv_option(command: _Command) -> _Command:
    """``--safe-csv``, on every command that writes CSV: cells a spreadsheet would run as formulas are written as
    text (``domain.csvcells``); without it the CSV is exact, as ``reconcile`` reads it back."""
    return click.option(
        "--safe-csv", is_flag=True, expose_value=False, callback=_remember_safe_csv,
        help="For spreadsheets: a cell beginning with = + - @ (or a tab, CR) gets a leading ' and every cell is "
             "quoted, so no name runs as a formula; plain numbers stay numbers. Not for `reconcile`, which needs the "
             "exact names of the default CSV.",
    )(command)


def _remember_safe_csv(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().ensure_object(dict)["safe_csv"] = True


def safe_csv() -> bool:
    """Whether the command running was given ``--safe-csv``."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and (context.find_root().obj or {}).get("safe_csv"))


class _Time(click.ParamType):  # type: ignore[type-arg]  # click 8.1 ParamType is not generic; 8.2 is
    """A time option: ISO-8601 with ``Z`` or any offset (converted to UTC), a plain date (midnight UTC), or ``now``.

    A time without an offset is refused: which zone it meant cannot be guessed.
    """

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text == "now":
            return system_clock()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                return parse_time(text, param.name if param else "time")
            except InvalidEvent as exc:
                self.fail(str(exc), param, ctx)
        if len(text) == 10:  # a plain date: midnight UTC, said aloud (never a silent guess)
            midnight = parsed.replace(tzinfo=UTC)
            option = param.opts[0] if param is not None and param.opts else "time"
            click.echo(f"note: {option} {text} read as {midnight.strftime('%Y-%m-%dT%H:%M:%SZ')} (midnight UTC)", err=True)
            return midnight
        if parsed.tzinfo is None:
            self.fail(f"{text!r} has no offset: add Z (UTC) or one such as +02:00", param, ctx)
        return parsed.astimezone(UTC)


TIME = _Time()

Time = datetime | None
"""A ``TIME`` option as click hands it over (None when not given): the commands' annotation for it."""


def check_point(as_of: datetime | None, seq: int | None) -> None:
    """``--as-of`` and ``--seq`` name the same thing, a point of the log: both at once is a usage error (exit 2)."""
    if as_of is not None and seq is not None:
        raise click.UsageError("give --as-of (a business time) or --seq (a sequence number), not both")


def check_window(start: datetime | None, end: datetime | None) -> None:
    """``--from`` after ``--to`` is a usage error (exit 2), not an empty answer."""
    if start is not None and end is not None and start > end:
        raise click.UsageError(f"--from {start.isoformat()} is after --to {end.isoformat()}")


def open_ledger(ctx: click.Context) -> Ledger:
    """The ledger the global options name; only ``init`` may create a SQLite file (others refuse a missing one)."""
    return Ledger.open(ctx.obj["db"], future_tolerance=timedelta(seconds=ctx.obj["future_tolerance"]), key=ctx.obj["key"],
                       create=ctx.obj["command"] == "init", price_band=ctx.obj["price_band"])


def figures_for(ctx: click.Context, ledger: Ledger, fmt: str) -> Figures:
    """How a command prints figures: at the display scales for a table (people), exactly otherwise (machines)."""
    return ledger.scales(ctx.obj["scales"]) if fmt == "table" else EXACT


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


def print_rows(
    rows: Sequence[dict[str, Any]], fmt: str, title: str, columns: Sequence[str] | None = None, *, page: bool = False,
    essential: Sequence[str] | None = None,
) -> None:
    """Rows as CSV, or as a table: on a terminal at its width, never splitting a number or an id (``tables.render``:
    the ``essential`` columns when all do not fit, or one record per block), through ``$PAGER`` when ``page`` and it
    is longer than the screen; piped, or with ``--wide``, in a plain layout as wide as it needs."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "csv":
        buffer = io.StringIO()
        write_csv(buffer, columns, rows, safe=safe_csv(), extras="ignore")
        click.echo(buffer.getvalue(), nl=False)
        return
    console = Console()
    context = click.get_current_context(silent=True)
    wide = bool(context is not None and context.find_root().obj and context.find_root().obj.get("wide"))
    if not console.is_terminal or wide:  # a plain layout as wide as its widest row: a file or a pipe has no width
        Console(width=_UNBOUNDED, no_color=True, highlight=False).print(tables.plain(title, columns, rows, _NUMERIC))
    elif page and len(rows) + 6 > console.height:
        with console.pager(styles=True):
            tables.render(console, title, columns, rows, _NUMERIC, essential)
    else:
        tables.render(console, title, columns, rows, _NUMERIC, essential)


def print_records(
    records: Sequence[dict[str, Any]], fmt: str, title: str, columns: Sequence[str] | None = None, *, page: bool = False,
    essential: Sequence[str] | None = None,
) -> None:
    """Records as a JSON array, or as table or CSV rows of ``columns``."""
    if fmt == "json":
        print_json(records)
    else:
        print_rows(records, fmt, title, columns, page=page, essential=essential)


MAX_FUTURE_TOLERANCE = 366 * 24 * 3600
"""The most seconds ``--future-tolerance`` may be: a year (a larger one overflowed the clock's arithmetic, exit 4)."""

_UNBOUNDED = 100_000
"""Columns a piped table may use: none of its cells is ever folded."""

_NUMERIC = frozenset({"amount", "qty", "price", "penalty", "equity_before", "maintenance_before", "target_before", "equity_after",
            "maintenance_after", "seq", "size", "entry_price", "mark_price", "unrealized_pnl", "realized_pnl",
            "funding_paid", "isolated_margin", "isolated_equity", "liquidation_price", "balance", "deficit",
            "fund_before", "insurance_covered", "socialized_loss", "actual", "alternative", "difference",
            "notional_actual", "notional_alternative", "penalties_actual", "penalties_alternative", "adl_covered",
            "insurance_fund_used", "adl_notional", "adl_fills", "accounts_hit", "losing_positions_hit",
            "largest_haircut_share", "haircut", "adl_price", "mark", "fills"})
"""Columns of figures: right-aligned, so that figures at one scale line up on their decimal point."""


_EPILOG = ("Exit status: 0 success; 1 a check found a problem (audit, verify, reconcile breaks); 2 bad input or usage "
           "(naming the file and line, or the event id); 3 the database could not be reached or opened; 4 an "
           "unexpected internal error (a short message and the path of a full log).")


class _PriceBand(click.ParamType):  # type: ignore[type-arg]  # as _Time
    """A share in (0, MAX_PRICE_BAND], exact (a decimal, never a float), or ``off``."""

    name = "SHARE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        text = str(value).strip()
        if text.lower() == "off":
            return None
        try:
            band = parse_decimal(text, "--price-band")
        except InvalidEvent as exc:
            self.fail(exc.reason, param, ctx)
        if not 0 < band <= MAX_PRICE_BAND:
            self.fail(f"{text} is not a share in (0, {MAX_PRICE_BAND}] (0.25 is 25%), or 'off'", param, ctx)
        return band


class StaysUp(click.Command):
    """A command whose process stays up until interrupted (``ledger serve``): it keeps the interpreter's collector
    schedule, where every other command, which replays and ends, collects the older generations rarely
    (``ledger.gc_policy``)."""


@click.group(cls=OnDemandGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.version_option(package_name="leveraged-ledger", prog_name="ledger")
@click.option("--db", envvar="LEDGER_DB", default=DEFAULT_URL, show_default=True, help="Database URL ($LEDGER_DB).")
@click.option("--future-tolerance", envvar="LEDGER_FUTURE_TOLERANCE", type=click.IntRange(min=0, max=MAX_FUTURE_TOLERANCE),
              default=int(DEFAULT_FUTURE_TOLERANCE.total_seconds()), show_default=True,
              help="Seconds an ingested event's business time may be past its recording time "
                   "($LEDGER_FUTURE_TOLERANCE); later ones are refused.")
@click.option("--price-band", envvar="LEDGER_PRICE_BAND", type=_PriceBand(), default=str(DEFAULT_PRICE_BAND),
              show_default=True, metavar="SHARE|off",
              help="How far a fill's price may be from its market's last mark, as a share of it (0.25: 25%; "
                   "$LEDGER_PRICE_BAND); fills outside are refused naming their line. 'off': no band.")
@click.option("--key", envvar="LEDGER_KEY", default=None, metavar="FILE",
              help="Ed25519 key file ($LEDGER_KEY; `ledger keygen`): a private key seals every append and snapshot "
                   "and verifies seals; a public key verifies only. Without one the log is not sealed.")
@click.option("--scale", "scales", envvar="LEDGER_SCALES", multiple=True, metavar="NAME=PLACES",
              help="Places tables print an asset's money (USD=2) or a market's prices (BTC-PERP=1) at; repeatable "
                   "($LEDGER_SCALES: 'USD=2 BTC=8'). Default: ISO 4217's minor unit, else 8; quantities at the lot's "
                   "places. JSON and CSV are always exact.")
@click.option("--wide", is_flag=True, envvar="LEDGER_WIDE",
              help="Tables whole, as wide as they need (as when piped), never narrowed to the terminal's columns.")
@click.pass_context
def cli(
    ctx: click.Context, db: str, future_tolerance: int, price_band: Decimal | None, key: str | None,
    scales: tuple[str, ...], wide: bool,
) -> None:
    """An event-sourced ledger for leveraged trading accounts."""
    try:
        overrides = parse_scale_overrides(scales)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scale") from None
    ctx.ensure_object(dict).update(db=db, future_tolerance=future_tolerance, price_band=price_band, key=key or None,
                                   command=ctx.invoked_subcommand, scales=overrides, wide=wide)
    _invocation["db"] = db
    command = cli.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    if command is not None and not isinstance(command, StaysUp):
        gc_policy.collect_older_generations_rarely()  # a command that replays and ends (``ledger.gc_policy``)


_invocation: dict[str, str] = {"db": DEFAULT_URL}
"""The database URL of the command running (for messages about it, password masked)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: every failure becomes its exit status and one clear message (see ``ledger.app.failures``)."""
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
    except Exception as exc:
        found = failures.classify(exc, _invocation["db"])
        if found is not None:
            status, message = found
            click.echo(f"error: {message}", err=True)
            sys.exit(status)
        log = failures.write_crash_log(exc, list(argv if argv is not None else sys.argv[1:]))
        click.echo(f"internal error ({type(exc).__name__}: {str(exc)[:200]}); the full report is in {log}", err=True)
        sys.exit(failures.INTERNAL)

"""``reconcile``: the ledger's balances against an external statement.

The statement is CSV with the header ``account,asset,balance`` (or, for
positions, ``account,market,size``: each break is then about a position's
size, and ``asset`` in a break is the market) (balances are
plain decimal strings, negatives allowed). An account written
``system:NAME`` refers to a system account (``system:insurance_fund``,
``system:funding``); one written ``NAME@MARKET`` to the isolated margin of
account NAME in MARKET (``bob@BTC-PERP,USD,1223.5``), in the market's settle
asset. A plain account's balance is its cross cash, which funding payments
and everything its cross positions settle have already moved.
Every break is listed:

- ``missing_in_ledger``: the statement has a balance the ledger does not know;
- ``missing_in_statement``: the ledger has a balance beyond the tolerance that
  the statement does not list (zero balances need not be listed; system
  accounts only count when asked for, as client statements rarely hold them);
- ``difference``: both have it, and they differ by more than the tolerance.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from attrs import frozen

from ledger.domain.money import ZERO, parse_decimal, to_str
from ledger.domain.state import LedgerState
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = [
    "Break", "read_statement", "is_position_statement", "ledger_balances", "ledger_positions", "reconcile", "HEADER",
    "POSITION_HEADER",
]

HEADER = ["account", "asset", "balance"]
POSITION_HEADER = ["account", "market", "size"]
"""A statement of positions: each account's size per market (``balances --positions --format csv`` writes one)."""
SYSTEM_PREFIX = "system:"
ISOLATED_SEPARATOR = "@"


@frozen
class Break:
    kind: str
    account: str
    asset: str
    ledger: str | None
    statement: str | None
    difference: str | None
    where: str | None


def is_position_statement(path: str | Path, encoding: str = "utf-8", delimiter: str = ",") -> bool:
    """Whether the statement's header is ``account,market,size`` (read_statement has checked it is one of the two)."""
    with Path(path).open("rb") as handle:
        header = next(csv.reader(_decoded(handle, Path(path), encoding), delimiter=delimiter), [])
    return [h.strip().lstrip("\ufeff") for h in header] == POSITION_HEADER


_SHAPES = f"{','.join(HEADER)} (cash) or {','.join(POSITION_HEADER)} (positions)"


def _refused(reason: str, where: str) -> InvalidBatch:
    return InvalidBatch([InvalidEvent(reason, where=where)], writing=False)


def _two_byte(encoding: str) -> bool:
    """UTF-16 or UTF-32 (Excel's "Unicode Text"): its lines are not split on a byte, nor is a NUL byte binary."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _decoded(handle: BinaryIO, path: Path, encoding: str) -> Iterator[str]:
    """The statement's lines as text, one at a time; a line the encoding cannot read is refused naming it and
    saying what to do (spreadsheets often save Latin-1 or Windows-1252)."""
    if _two_byte(encoding):
        try:
            yield from io.TextIOWrapper(handle, encoding=encoding, newline="")
        except UnicodeDecodeError as exc:
            raise _refused(f"not valid {encoding} ({exc.reason})", str(path)) from None
        return
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _refused(f"not valid {encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}): save the "
                           "statement as UTF-8, or give its encoding (e.g. --encoding cp1252 for Excel on Windows, "
                           "--encoding latin-1)", f"{path}:{number}") from None


def _not_a_statement(path: Path, encoding: str) -> InvalidBatch | None:
    """A file that cannot be a CSV statement at all (empty, Parquet, binary), said as such."""
    with path.open("rb") as handle:
        start = handle.read(4096)
    if not start.strip():
        return _refused(f"empty file: a statement starts with its header, {_SHAPES}", str(path))
    if start.startswith(b"PAR1"):
        return _refused("not a CSV statement: this is a Parquet file (`ledger export --format csv` writes the "
                        "statement's shape as CSV)", str(path))
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) and not _two_byte(encoding):
        return _refused("this statement is UTF-16 (Excel's \"Unicode Text\"): give --encoding utf-16 (and "
                        "--delimiter tab, as Excel separates its columns then)", str(path))
    if b"\x00" in start and not _two_byte(encoding):
        return _refused("not a CSV statement: a binary file (reconcile reads CSV text)", str(path))
    return None


def read_statement(path: str | Path, encoding: str = "utf-8", delimiter: str = ",",
                   ) -> dict[tuple[str, str], tuple[Decimal, str]]:
    """(account, asset or market) -> (balance or size, FILE:LINE); ``InvalidBatch`` names every bad line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidBatch([InvalidEvent("no such file", where=str(path))], writing=False)
    refused = _not_a_statement(path, encoding)
    if refused is not None:
        raise refused
    with path.open("rb") as handle:
        reader = csv.reader(_decoded(handle, path, encoding), delimiter=delimiter)
        try:
            return _statement_rows(reader, path, delimiter)
        except csv.Error as exc:  # a lone CR line ending (old Mac files), a field beyond the csv module's bound
            raise _refused(f"not readable as CSV ({exc}): save it with Unix or Windows line endings",
                           f"{path}:{reader.line_num}") from None


def _statement_rows(reader: Any, path: Path, delimiter: str) -> dict[tuple[str, str], tuple[Decimal, str]]:
    """The statement's rows from its CSV reader: the header checked (with a hint at another separator), then every
    line, each bad one named."""
    rows: dict[tuple[str, str], tuple[Decimal, str]] = {}
    errors: list[InvalidEvent] = []
    header = next(reader, None)
    if header is not None and header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]  # a byte-order mark, as spreadsheets write one
    if header is None or [h.strip() for h in header] not in (HEADER, POSITION_HEADER):
        found = delimiter.join(header or [])
        hint = next((f": the columns seem separated by {name}, give --delimiter {flag}"
                     for char, name, flag in ((";", "';'", "';'"), ("\t", "tabs", "tab"), (",", "','", "','"))
                     if char != delimiter and char in found), "")
        raise _refused(f"header must be {_SHAPES}, got {found!r}{hint}", f"{path}:1")
    value_name = header[2].strip()
    for number, record in enumerate(reader, start=2):
        where = f"{path}:{number}"
        if not record or not any(cell.strip() for cell in record):
            continue
        try:
            if len(record) != 3:
                raise InvalidEvent(f"expected 3 columns, got {len(record)}")
            account, asset, balance = (cell.strip() for cell in record)
            if not account or not asset:
                raise InvalidEvent("account and asset must not be empty")
            if (account, asset) in rows:
                raise InvalidEvent(f"{account} {asset} is listed twice (first at {rows[(account, asset)][1]})")
            rows[(account, asset)] = (parse_decimal(balance, value_name), where)
        except InvalidEvent as exc:
            errors.append(exc.located(where))
    if errors:
        raise InvalidBatch(errors, writing=False)
    return rows


def ledger_positions(state: LedgerState) -> dict[tuple[str, str], Decimal]:
    """(account, market) -> size of every position the account ever held (a closed one: 0)."""
    return {(name, market): p.size for name, acct in state.accounts.items() for market, p in acct.positions.items()}


def ledger_balances(state: LedgerState) -> dict[tuple[str, str], Decimal]:
    balances = {(name, asset): amount for name, acct in state.accounts.items() for asset, amount in acct.cash.items()}
    for name, acct in state.accounts.items():
        for market, amount in acct.isolated.items():
            balances[(f"{name}{ISOLATED_SEPARATOR}{market}", state.markets[market].settle_asset)] = amount
    for name, by_asset in state.system.items():
        for asset, amount in by_asset.items():
            balances[(SYSTEM_PREFIX + name, asset)] = amount
    return balances


def reconcile(
    state: LedgerState,
    statement: dict[tuple[str, str], tuple[Decimal, str]],
    tolerance: Decimal = ZERO,
    include_system: bool = False,
    positions: bool = False,
) -> list[Break]:
    """Every break between the ledger and the statement (see module docstring)."""
    ours = ledger_positions(state) if positions else ledger_balances(state)
    breaks: list[Break] = []
    for key in sorted(set(ours) | set(statement)):
        account, asset = key
        mine = ours.get(key)
        theirs, where = statement.get(key, (None, None))
        if mine is None:
            assert theirs is not None, "a key the ledger lacks comes from the statement"
            breaks.append(Break("missing_in_ledger", account, asset, None, to_str(theirs), None, where))
        elif theirs is None:
            if abs(mine) > tolerance and (include_system or not account.startswith(SYSTEM_PREFIX)):
                breaks.append(Break("missing_in_statement", account, asset, to_str(mine), None, None, None))
        elif abs(mine - theirs) > tolerance:
            breaks.append(Break("difference", account, asset, to_str(mine), to_str(theirs), to_str(mine - theirs), where))
    return breaks

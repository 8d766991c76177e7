"""What went wrong, in words a script and a person can tell apart: the exit statuses of the contract.

0 success; 1 a check found a problem; 2 bad input or usage (the message
names the file and line, or the event id); 3 the database could not be
reached or opened (one line naming the URL with any password masked, and the
cause); 4 an unexpected internal error (a short message and the path of a
full log, never a bare traceback). The CLI asks ``classify`` what an
exception means; only this module knows the database driver's exceptions.
"""

from __future__ import annotations

import re
import tempfile
import time
import traceback
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from ledger.errors import DatabaseUnavailable, InvalidBatch, InvalidEvent, LedgerError, NotInitialised, UnprovenLog

__all__ = ["CHECK_FAILED", "BAD_INPUT", "DATABASE", "INTERNAL", "classify", "mask_url", "write_crash_log"]

CHECK_FAILED, BAD_INPUT, DATABASE, INTERNAL = 1, 2, 3, 4

_INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for a privilege the role lacks: a set-up to fix (exit 3), not a bug (exit 4)."""

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (also when the URL does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD.sub(r"\1***@", url)


def _cause(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's boilerplate (background links, SQL)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def classify(exc: BaseException, url: str) -> tuple[int, str] | None:
    """(exit status, one-line message) for an expected failure; None for an unexpected one (exit 4, logged)."""
    if isinstance(exc, DatabaseUnavailable):
        return DATABASE, f"could not open the database {mask_url(url)}: {exc}"
    if isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return DATABASE, f"could not reach the database {mask_url(url)}: {_cause(exc)}"
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
        return DATABASE, (f"the database {mask_url(url)} refused this role: {_cause(exc)} (the daily commands need the "
                          "privileges `ledger grant ROLE` gives; `ledger init` and `ledger grant` run as the schema's "
                          "owner: docs/storage.md)")
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return DATABASE, f"could not open the database {mask_url(url)}: not a database URL this ledger can use ({_cause(exc)})"
    if isinstance(exc, UnprovenLog):
        return CHECK_FAILED, f"{exc} (reads with a key show only what the seals prove)"
    if isinstance(exc, (InvalidBatch, InvalidEvent, NotInitialised, LedgerError)):
        return BAD_INPUT, str(exc)
    return None


def write_crash_log(exc: BaseException, argv: list[str]) -> Path:
    """The full traceback, with the command line, in a file of its own; its path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with tempfile.NamedTemporaryFile("w", prefix=f"ledger-error-{stamp}-", suffix=".log", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(f"ledger {' '.join(argv)}\n\n")
        handle.write("".join(traceback.format_exception(exc)))
    return Path(handle.name)

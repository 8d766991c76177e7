"""Every error the ledger raises on purpose.

One root, ``LedgerError``, so callers can catch the ledger's refusals apart from
bugs; each subclass also inherits the nearest built-in so generic code keeps
working (``InvalidEvent`` is a ``ValueError``). Messages always name the
offending record: ``FILE:LINE`` for ingested lines, the event id otherwise.
"""

from __future__ import annotations

__all__ = [
    "LedgerError",
    "KeyUnusable",
    "RoleUnusable",
    "UnsealedLog",
    "UnprovenLog",
    "DatabaseUnavailable",
    "WorkspaceUnusable",
    "InvalidEvent",
    "InvalidBatch",
    "ConcurrencyConflict",
    "DuplicateEventConflict",
    "UnknownRuleVersion",
    "InvalidRuleParams",
    "NotInitialised",
    "UnsupportedDatabase",
]


class LedgerError(Exception):
    """Root of the ledger's deliberate refusals."""


class InvalidEvent(LedgerError, ValueError):
    """One record is malformed or breaks a business rule; ``where`` names it."""

    def __init__(self, reason: str, *, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def located(self, where: str) -> InvalidEvent:
        """The same error, attributed to a record (``FILE:LINE`` or ``event ID``)."""
        return type(self)(self.reason, where=where)


class InvalidBatch(LedgerError, ValueError):
    """A batch (usually a file) was rejected; it carries every error found."""

    def __init__(self, errors: list[InvalidEvent], total: int | None = None, *, writing: bool = True) -> None:
        """``writing=False`` for a read-only command's input (a statement): it never says nothing was stored."""
        self.errors = errors
        self.total = max(total or 0, len(errors))
        shown = "\n".join(str(e) for e in errors[:20])
        more = f"\n... and {self.total - min(len(errors), 20)} more ({self.total} in all)" if self.total > 20 else ""
        super().__init__(f"{shown}{more}" + ("\nnothing was stored" if writing else ""))


class ConcurrencyConflict(LedgerError, RuntimeError):
    """An append expected a stream version that is no longer current."""

    def __init__(self, stream: str, expected: int, actual: int, message: str | None = None) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(
            message or f"stream {stream!r} is at version {actual}, the append expected {expected}; "
            "nothing was stored: reload and retry"
        )

    @classmethod
    def refused_by_database(cls, first_stream: str, detail: object) -> ConcurrencyConflict:
        """The log's unique constraints refused a row the writer's checks had let through."""
        return cls(
            first_stream, -1, -1,
            "the database refused the batch (a stream version or an event id is already taken: "
            f"{' '.join(str(detail).split())}); nothing was stored: reload and retry",
        )


class DuplicateEventConflict(InvalidEvent):
    """An event id is already stored with different content."""


class UnknownRuleVersion(InvalidEvent):
    """A ``rules_activated`` event names a version the registry does not hold."""


class InvalidRuleParams(InvalidEvent):
    """A ``rules_activated`` event carries parameters its version refuses."""


class NotInitialised(LedgerError, RuntimeError):
    """The database has no ledger schema yet (run ``ledger init``)."""


class UnsupportedDatabase(LedgerError, ValueError):
    """A database URL the ledger cannot keep a log in (an in-memory SQLite database vanishes with its process)."""


class KeyUnusable(LedgerError, ValueError):
    """The sealing key cannot be read, or cannot do what is asked (a public key verifies but cannot seal)."""


class RoleUnusable(LedgerError, ValueError):
    """A database role cannot be given the ledger's privileges (``ledger grant``): it does not exist, or the database
    has no roles (SQLite)."""


class UnsealedLog(LedgerError, RuntimeError):
    """A keyed append found rows after the last seal: someone wrote to the log without the key."""


class UnprovenLog(LedgerError, RuntimeError):
    """With a key configured, a read found rows no valid seal proves (exit 1: a check found a problem); ``ledger verify``
    and ``ledger audit`` say what."""


class WorkspaceUnusable(LedgerError, RuntimeError):
    """A place the ledger needs on this machine cannot take what it must write there (a sweep's temporary history
    file on a full disk): the operator's to fix, with what it needs and where (exit status 2), not a bug."""


class DatabaseUnavailable(LedgerError, RuntimeError):
    """The database cannot be reached or opened (exit status 3): not there, not reachable, or not a database."""

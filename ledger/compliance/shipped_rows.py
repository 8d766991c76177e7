"""The rows a sweep ships to its workers, as a worker reads them: kept apart from ``compliance.sweep`` so that
pyarrow is imported only where rows are shipped, not by every command that imports the sweep (``ledger account``
answers in tens of milliseconds; importing pyarrow and numpy alone costs more)."""

from __future__ import annotations

from typing import Any

from ledger.domain.state import LedgerState
from ledger.store.arrow_rows import ArrowRows

__all__ = ["ShippedRows"]


class ShippedRows(ArrowRows):
    """The shipped rows as a worker's ``LogReader`` (kept as their Arrow table: ``store.arrow_rows``), with what
    happened folded once for all its candidates."""

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self.actual: dict[str | None, LedgerState] = {}
        """What happened up to a time (the what-if's actual world), folded once for the full re-run's candidates."""

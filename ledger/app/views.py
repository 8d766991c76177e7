"""Pure shapers of what the facade returns, for callers that print it (the CLI, the console): the daily reads'.

Re-exported from the read models so that the CLI, which talks to the app only,
renders exactly what the reports define. What the compliance runs return is
shaped by ``app.compliance_views``, kept apart so that a daily command does not
load the sweep's modules (``ledger.app.ledger``'s docstring).
"""

from __future__ import annotations

from ledger.domain.scales import EXACT, Figures, parse_scale_overrides
from ledger.domain.words import counted
from ledger.reports.balances import POSITION_COLUMNS, STATEMENT_COLUMNS, balance_rows, position_rows, statement_rows
from ledger.reports.history import HISTORY_COLUMNS, history_csv, history_table_rows
from ledger.reports.records import record_table_rows

__all__ = ["balance_rows", "statement_rows", "position_rows", "STATEMENT_COLUMNS", "POSITION_COLUMNS",
           "record_table_rows", "EXACT", "Figures", "parse_scale_overrides", "counted", "HISTORY_COLUMNS", "history_csv",
           "history_table_rows"]

"""Pure shapers of what the facade returns, for callers that print it (the CLI).

Re-exported from the read models so that the CLI, which talks to the app only,
renders exactly what the reports define.
"""

from __future__ import annotations

from ledger.compliance.sweep import FIGURES as SWEEP_FIGURES
from ledger.compliance.sweep import MAX_CANDIDATES
from ledger.domain.scales import EXACT, Figures, parse_scale_overrides
from ledger.domain.words import counted
from ledger.reports.balances import POSITION_COLUMNS, STATEMENT_COLUMNS, balance_rows, position_rows, statement_rows
from ledger.reports.comparison_tables import (
    LOSS_COLUMNS,
    PAYER_COLUMNS,
    account_table_rows,
    loss_allocation_rows,
    payer_rows,
    summary_table_rows,
    sweep_table_rows,
)
from ledger.reports.explanation import render_text as render_explanation
from ledger.reports.history import HISTORY_COLUMNS, history_csv, history_table_rows
from ledger.reports.records import record_table_rows

__all__ = ["balance_rows", "statement_rows", "position_rows", "STATEMENT_COLUMNS", "POSITION_COLUMNS", "render_explanation",
           "record_table_rows", "summary_table_rows", "sweep_table_rows", "SWEEP_FIGURES", "account_table_rows", "EXACT",
           "Figures", "parse_scale_overrides", "loss_allocation_rows", "payer_rows", "LOSS_COLUMNS", "PAYER_COLUMNS", "counted",
           "MAX_CANDIDATES", "HISTORY_COLUMNS", "history_csv", "history_table_rows"]

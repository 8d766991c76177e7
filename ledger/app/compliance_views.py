"""Pure shapers of what the compliance runs return (what-ifs, comparisons, sweeps, explanations), for the shell.

Re-exported from the read models and the sweep, as ``app.views`` re-exports
the daily reads' shapers; a module of its own because the sweep's is heavy to
load, and only the compliance commands and the console's pages and tools need
it.
"""

from __future__ import annotations

from ledger.compliance.sweep import FIGURES as SWEEP_FIGURES
from ledger.compliance.sweep import MAX_CANDIDATES
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

__all__ = ["SWEEP_FIGURES", "MAX_CANDIDATES", "LOSS_COLUMNS", "PAYER_COLUMNS", "account_table_rows",
           "loss_allocation_rows", "payer_rows", "summary_table_rows", "sweep_table_rows", "render_explanation"]

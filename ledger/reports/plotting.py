"""matplotlib as every chart of the report uses it: drawn off-screen, and text taken as plain text.

matplotlib reads ``$...$`` in any title, label or tick as mathematical
notation: an account named ``$\\undefinedmacro$`` that was ever liquidated made
every ``ledger report`` fail (#27 point 17). Names are data, never markup:
``text.parse_math`` is off for every chart this package draws.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["text.parse_math"] = False

import matplotlib.dates as mdates  # noqa: E402  # after the backend is chosen
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402

__all__ = ["plt", "mdates", "ticker"]

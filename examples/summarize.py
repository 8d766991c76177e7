"""The main job's last words: what happened, and what partial liquidation saved or cost against full, in sentences.

Reads the JSON of ``ledger whatif --rules full-v1 ... --format json`` on
standard input and prints ``ledger.reports.summary.comparison_summary`` of it
(the same paragraph that opens the HTML report), then where the report is.

Usage: ledger whatif --rules full-v1 --params P.json --format json | python examples/summarize.py [REPORT]
"""

from __future__ import annotations

import json
import sys

from ledger.reports.summary import comparison_summary


def main() -> None:
    lines = comparison_summary(json.load(sys.stdin))
    if len(sys.argv) > 1:
        lines.append(f"The report with the charts is {sys.argv[1]}.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The main job, on the embedded SQLite default (./ledger.db):
#  1. generate a deterministic day with a sharp BTC/ETH flash crash, funding every 8 hours,
#     four isolated traders, a ranked auto-deleveraging policy from noon and, at 20:05, an ETH
#     wick deep enough to drain the insurance fund (examples/make_crash_history.py; the same
#     file every run),
#     or, with `--real BARS.csv`, a history on real exchange prices (examples/real_history.py:
#     the bars of ../shared/data or a Binance kline dump turned into marks, in the market the file
#     prices), kept with its report in out/real-<file name>/, one folder per input;
#  2. create the schema and ingest it (idempotent: a second run stores nothing new);
#  3. print balances (isolated margins, and every position's funding paid and liquidation price),
#     the liquidations the engine made under partial-v1, the bankruptcies and the auto-deleveraging
#     fills that paid what the fund could not, one isolated trader's last rows,
#     and the same history replayed under the three other versions, side by side
#     (full-v1, tiered-v1, stepped-v1; parameters in examples/params/);
#  4. audit the whole log (hash chain, books, every liquidation re-derived), and
#     verify it: every append is sealed with the key out/ledger.key (made on the
#     first run; keep such a key outside the database), so forgery is detected;
#  5. write the HTML report (out/report/index.html, one self-contained file, with the three
#     loss-allocation policies side by side) and end with a summary in words of what partial-v1
#     saved and cost against full-v1, and of what each loss-allocation policy (socialize-v1, the
#     ranked queue in force, pro-rata by profit) did to whom.
set -euo pipefail
REAL=""
if [ "${1:-}" = "--real" ]; then
    REAL="$(cd "$(dirname "${2:?--real needs a bar file}")" && pwd)/$(basename "$2")"
fi
source "$(dirname "$0")/bootstrap.sh" ""  # no extras (and not our own arguments)
mkdir -p out
[ -f out/ledger.key ] || ledger keygen out/ledger.key
export LEDGER_KEY=out/ledger.key
REPORT=out/report
if [ -n "$REAL" ]; then  # each input its own database and folder: out/real-<file name>/
    DIR="out/real-$(basename "${REAL%.*}")"
    mkdir -p "$DIR"
    export LEDGER_DB="sqlite:///$DIR/ledger.db"
    REPORT="$DIR/report"
    MARKET="$(python examples/real_history.py "$REAL" "$DIR/history.jsonl")"
    echo "real prices: $REAL as $MARKET, ledger in $DIR/ledger.db"
    HISTORY="$DIR/history.jsonl"
else
    python examples/make_crash_history.py out/history.jsonl
    HISTORY=out/history.jsonl
fi
ledger init
ledger ingest "$HISTORY"
ledger balances
ledger liquidations
ledger bankruptcies
ledger deleverages
ledger history trader-14 --tail 8
ledger whatif --rules full-v1 --params examples/params/full-v1.json \
              --rules tiered-v1 --params examples/params/tiered-v1.json \
              --rules stepped-v1 --params examples/params/stepped-v1.json
ledger audit
ledger verify
ledger report --out "$REPORT" --whatif full-v1 --params examples/params/full-v1.json \
              --whatif tiered-v1 --params examples/params/tiered-v1.json \
              --whatif stepped-v1 --params examples/params/stepped-v1.json \
              --loss-allocation socialize-v1 --loss-params examples/params/socialize-v1.json \
              --loss-allocation adl-prorata-v1 --loss-params examples/params/adl-prorata-v1.json >/dev/null
echo
echo "Summary (partial-v1 with target_buffer 1: a close restores twice the maintenance margin):"
ledger whatif --rules full-v1 --params examples/params/full-v1.json --format json | python examples/summarize.py
echo
echo "Loss allocation (what the insurance fund could not cover; adl-ranked-v1 in force from noon):"
ledger whatif --loss-allocation socialize-v1 --loss-params examples/params/socialize-v1.json \
              --loss-allocation adl-prorata-v1 --loss-params examples/params/adl-prorata-v1.json --format json \
    | python examples/summarize.py "$REPORT/index.html"
echo; echo "Browse it in the read-only web console (docs/console.md): LEDGER_KEY=$LEDGER_KEY .venv/bin/ledger --db ${LEDGER_DB:-sqlite:///ledger.db} serve   then open http://127.0.0.1:8000/"

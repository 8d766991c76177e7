#!/usr/bin/env bash
# The main job, on the embedded SQLite default (./ledger.db):
#  1. generate a deterministic history with a sharp BTC/ETH flash crash
#     (examples/make_crash_history.py; the same file every run),
#  2. create the schema and ingest it (idempotent: a second run stores nothing new),
#  3. print balances (four traders margin isolated: their isolated margins, and every
#     position's funding paid and liquidation price), the liquidations the engine made under partial-v1,
#     one isolated trader's day after the crash (hourly marks, funding every 8 hours),
#     and the same history replayed under the three other versions, side by side
#     (full-v1, tiered-v1, stepped-v1; parameters in examples/params/),
#  4. audit the whole log (hash chain, books, every liquidation re-derived), and
#     verify it: every append is sealed with the key out/ledger.key (made on the
#     first run; keep such a key outside the database), so forgery is detected.
source "$(dirname "$0")/bootstrap.sh"
mkdir -p out
[ -f out/ledger.key ] || ledger keygen out/ledger.key
export LEDGER_KEY=out/ledger.key
python examples/make_crash_history.py out/crash-history.jsonl
ledger init
ledger ingest out/crash-history.jsonl
ledger balances
ledger liquidations
ledger history trader-14 --from 2024-08-05T07:00:00Z
ledger whatif --rules full-v1 --params examples/params/full-v1.json \
              --rules tiered-v1 --params examples/params/tiered-v1.json \
              --rules stepped-v1 --params examples/params/stepped-v1.json
ledger audit
ledger verify

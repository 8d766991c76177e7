#!/usr/bin/env bash
# The main job, on the embedded SQLite default (./ledger.db): create the schema,
# ingest the sample history (idempotent: a second run stores nothing new),
# then print balances, the liquidations the engine made, and verify the chain.
source "$(dirname "$0")/bootstrap.sh"
ledger init
ledger ingest examples/sample-history.jsonl
ledger balances
ledger liquidations
ledger bankruptcies
ledger verify

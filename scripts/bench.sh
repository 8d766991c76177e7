#!/usr/bin/env bash
# The benchmarks (not part of the test suite): every figure beside a baseline
# measured in the same run. Arguments go to bench/run.py, e.g. --events 100000.
# Results: printed, and written to out/bench.json.
source "$(dirname "$0")/bootstrap.sh" bench
source "$(dirname "$0")/pg.sh"
export LEDGER_BENCH_PG_URL="$PG_URL"
python -m bench.run "$@"

#!/usr/bin/env bash
# The whole test suite, SQLite and a real PostgreSQL server started here (scripts/pg.sh).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m slow`).
source "$(dirname "$0")/bootstrap.sh" test,cluster  # the sweep on a Dask cluster is tested too

source "$(dirname "$0")/pg.sh"
source "$(dirname "$0")/browser.sh"

export LEDGER_TEST_PG_URL="$PG_URL"
export LEDGER_TEST_REQUIRE_PG=1
export LEDGER_TEST_REQUIRE_BROWSER=1
set +e
python -m pytest "$@"
status=$?
set -e
exit $status

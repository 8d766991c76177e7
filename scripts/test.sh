#!/usr/bin/env bash
# The whole test suite, SQLite and a real PostgreSQL server started here (scripts/pg.sh).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m slow`).
source "$(dirname "$0")/bootstrap.sh" test

source "$(dirname "$0")/pg.sh"

export LEDGER_TEST_PG_URL="$PG_URL"
export LEDGER_TEST_REQUIRE_PG=1
set +e
python -m pytest "$@"
status=$?
set -e
exit $status

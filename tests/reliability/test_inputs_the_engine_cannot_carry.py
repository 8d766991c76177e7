"""Inputs that used to end in a traceback (reliability issue, point 10): each is now exit 2 naming the line, or success.

Written as the attacks first: a lone surrogate in a name (Python reads it from
JSON, but no UTF-8 encodes it: the insert crashed), a quantity 60 orders of
magnitude above its lot (the grid check overflowed the decimal context), and
three ``ledger init`` at once on an empty database (the later ones crashed on
the first one's half-made schema). The tiny lot is now refused where it is
listed: no figure may carry more than 18 decimal places (point 9).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

from ledger.store.engine import normalise_url
from tests.conftest import ROOT
from tests.support.cli import run

SURROGATE = '{"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "al\\ud800ice", "asset": "USD", "amount": "1"}\n'
TINY_LOT = (
    '{"type": "market_listed", "id": "m-x", "at": "2024-08-05T00:00:00Z", "market": "X-PERP", "settle_asset": "USD", '
    '"lot_size": "0.0000000000000000000000000000001"}\n'
    '{"type": "deposit", "id": "d-2", "at": "2024-08-05T00:01:00Z", "account": "bob", "asset": "USD", "amount": "1"}\n'
    '{"type": "trade", "id": "t-2", "at": "2024-08-05T00:02:00Z", "account": "bob", "market": "X-PERP", "side": "buy", '
    '"qty": "100000000000000000000000000000", "price": "1", "fee": "0"}\n'
)


@pytest.mark.parametrize(("content", "line", "reason"), [
    (SURROGATE, 1, "account contains a lone surrogate"),
    (TINY_LOT, 1, "lot_size has 31 decimal places, at most 18 are allowed"),  # bounded inputs: refused at the listing
])
def test_an_input_that_crashed_the_ingest_is_refused_naming_its_line(db_url, tmp_path, content, line, reason):
    """A lone surrogate in a name, or a lot size finer than 18 decimal places, is refused naming its line, with no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    assert run(db_url, "init")[0] == 0
    code, _, err = run(db_url, "ingest", str(bad))
    assert code == 2 and f"{bad}:{line}: {reason}" in err and "Traceback" not in err
    assert run(db_url, "verify")[1].startswith("ok: 0 events")


def test_a_lone_surrogate_in_rule_params_is_refused_too(db_url, tmp_path):
    """A lone surrogate inside rule parameters is refused at ingest, naming the parameter."""
    bad = tmp_path / "rules.jsonl"
    bad.write_text('{"type": "rules_activated", "id": "r", "at": "2024-08-05T00:00:00Z", "version": "partial-v1", '
                   '"params": {"liquidation_fee_rate": "0.00\\udfff2", "target_buffer": "0", "markets": {}}}\n', encoding="utf-8")
    assert run(db_url, "init")[0] == 0
    code, _, err = run(db_url, "ingest", str(bad))
    assert code == 2 and "params.liquidation_fee_rate contains a lone surrogate" in err


def concurrent_inits(url: str, count: int = 3) -> list[subprocess.CompletedProcess]:
    children = [subprocess.Popen([sys.executable, "-m", "ledger", "--db", url, "init"], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    return [subprocess.CompletedProcess(c.args, c.wait(timeout=120), *c.communicate()) for c in children]


@pytest.mark.postgres
def test_three_inits_at_once_on_an_empty_postgres_database_all_succeed(pg_admin_url):
    """Before: one of three crashed on about every second try (tables or alembic_version half made by another)."""
    admin = create_engine(normalise_url(pg_admin_url), isolation_level="AUTOCOMMIT")
    try:
        for _ in range(3):
            name = f"ledger_init_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
            try:
                done = concurrent_inits(url)
                assert [d.returncode for d in done] == [0, 0, 0], [d.stderr[-500:] for d in done]
                assert run(url, "verify")[0] == 0
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def test_three_inits_at_once_on_a_new_sqlite_file_all_succeed(tmp_path):
    """Three ``ledger init`` run at once on a new SQLite file all succeed."""
    done = concurrent_inits(f"sqlite:///{tmp_path / 'l.db'}")
    assert [d.returncode for d in done] == [0, 0, 0], [d.stderr[-500:] for d in done]

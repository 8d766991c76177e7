"""Rule sweeps: every candidate's row equals the serial what-if of that candidate, wherever it ran."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ledger import Ledger
from ledger.compliance.sweep import candidates_of, sweep
from ledger.compliance.whatif import WhatIf, compare
from ledger.domain.money import ZERO
from ledger.domain.valuation import equity_by_asset
from ledger.errors import InvalidEvent
from tests.conftest import ROOT
from tests.support.cli import run

CRASH = ROOT / "examples" / "sample-history.jsonl"
GRID = {"grid": {"liquidation_fee_rate": ["0.001", "0.01"], "target_buffer": ["0.1", "1"]}}


@pytest.fixture
def crash(db_url):
    with Ledger.open(db_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
    return db_url


def _serial(store, candidate, end=None) -> dict[str, str]:
    """The figures the what-if of ``candidate`` gives, computed here from its own outcome (not through the sweep), on
    the full re-run (every event re-run in its world: what the sweep's differential worlds are held to)."""
    result = WhatIf.of(compare(store, [(candidate.version, candidate.params)], end=end, differential=False))
    by_asset, state = result.alternative.by_asset["USD"], result.alternative_state
    wiped = sum(1 for name in result.alternative.by_account
                if equity_by_asset(state, state.account(name)).get("USD", ZERO) <= 0)
    return {"liquidations": by_asset["liquidations"], "closed_notional": by_asset["notional_liquidated"],
            "penalties": by_asset["penalties"], "socialized_loss": by_asset["socialized_loss"],
            "insurance_fund_end": state.system["insurance_fund"].get("USD", ZERO), "accounts_wiped_out": wiped}


def _same(row: dict[str, str], serial: dict) -> bool:
    from decimal import Decimal

    return all(Decimal(row[k]) == Decimal(serial[k]) for k in serial)


def _candidates(ledger):
    from ledger.compliance.sweep import base_params

    return candidates_of(["partial-v1"], GRID, base_params(ledger.store))


def test_a_local_process_pool_gives_every_candidate_its_serial_whatif(crash):
    """A sweep on a local process pool gives each candidate, in order, the figures of its own serial what-if."""
    with Ledger.open(crash) as ledger:
        candidates = _candidates(ledger)
        assert len(candidates) == 4
        rows = sweep(ledger.store, candidates, workers=2)
        assert [r["candidate"] for r in rows] == [1, 2, 3, 4], "rows in candidate order"
        for row, candidate in zip(rows, candidates, strict=True):
            assert (row["liquidation_fee_rate"], row["target_buffer"]) == tuple(candidate.varied.values())
            assert _same(row, _serial(ledger.store, candidate)), row
        figures = {tuple(r[k] for k in ("liquidations", "penalties")) for r in rows}
        assert len(figures) > 1, "the candidates differ: the grid reached the rules"


def test_a_dask_local_cluster_gives_the_same_rows(sqlite_url, tmp_path):
    """A sweep on a Dask cluster gives the same rows as a serial one, each equal to its candidate's serial what-if
    (the cluster's scratch space in the test's own directory)."""
    import dask
    import distributed  # the `cluster` extra, which the test command installs: a missing install fails, never skips
    with Ledger.open(sqlite_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
        candidates = _candidates(ledger)
        serial = sweep(ledger.store, candidates, workers=1)
        with dask.config.set({"temporary-directory": str(tmp_path / "dask")}), distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            on_dask = sweep(ledger.store, candidates, scheduler=cluster.scheduler_address)
        assert on_dask == serial
        for row, candidate in zip(serial, candidates, strict=True):
            assert _same(row, _serial(ledger.store, candidate)), row


def test_a_sweep_cut_at_a_time_equals_the_serial_whatif_cut_there(sqlite_url):
    """``--to`` without ``--from``: the shipped rows find the cut as the store does, and the actual world stops there."""
    from ledger.domain.timefmt import parse_time

    with Ledger.open(sqlite_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
        rows = list(ledger.store.read())
        end = parse_time(rows[len(rows) // 2].at)
        candidates = _candidates(ledger)
        cut = sweep(ledger.store, candidates, end=end, workers=1)
        whole = sweep(ledger.store, candidates, workers=1)
        assert cut != whole, "the cut reaches the sweep"
        for row, candidate in zip(cut, candidates, strict=True):
            assert _same(row, _serial(ledger.store, candidate, end=end)), row


def test_a_differential_pass_folds_what_happened_once_itself(sqlite_url, monkeypatch):
    """Candidates in several differential passes over the same rows: each pass's own fold of what happened is the
    only one (no separate fold of the actual world, none kept beside the pass), and each candidate still gets its
    serial what-if, whole and cut at a time."""
    from ledger.compliance import sweep as sweeping
    from ledger.domain.timefmt import parse_time

    def folded_apart(*args: object) -> None:
        raise AssertionError("what happened folded apart from the differential pass")

    with Ledger.open(sqlite_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
        candidates = _candidates(ledger)
        end = parse_time(list(ledger.store.read())[-10].at)
        monkeypatch.setattr(sweeping, "actual_world", folded_apart)
        rows = sweeping._rows(sweeping.history_batch(ledger.store))
        for cut in (None, end):
            for candidate in candidates:
                [row] = sweeping.evaluate(rows, [candidate], None, cut)[0]
                assert _same(row, _serial(ledger.store, candidate, end=cut)), (cut, row)
        assert rows.actual == {}, "no state of what happened kept beside the passes"


def test_the_in_force_params_reproduce_what_happened(sqlite_url, tmp_path):
    """A candidate equal to the rules in force is the actual history: its liquidations are the stored ones."""
    assert run(sqlite_url, "init")[0] == 0 and run(sqlite_url, "ingest", str(CRASH))[0] == 0
    grid = tmp_path / "grid.json"
    with Ledger.open(sqlite_url) as ledger:
        from ledger.compliance.sweep import base_params

        fee = base_params(ledger.store)["liquidation_fee_rate"]
        stored = ledger.liquidation_records()
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": [fee]}}))
    code, out, err = run(sqlite_url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--format", "json",
                         "--workers", "1")
    assert code == 0, err
    [row] = json.loads(out)
    assert int(row["liquidations"]) == len(stored) and len(stored) > 0
    code, out, _ = run(sqlite_url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--format", "csv",
                       "--workers", "1")
    assert next(csv.DictReader(io.StringIO(out)))["penalties"] == row["penalties"], "CSV exact, as JSON"


@pytest.mark.parametrize(("grid", "message"), [
    ({"grid": {}}, 'expected {"grid"'),
    ({"grid": {"liquidation_fee_rate": [0.001]}}, "grid 'liquidation_fee_rate': expected a non-empty list"),
    ({"grid": {"markets.NOPE.maintenance_margin_rate": ["0.1"]}}, "grid markets.NOPE.maintenance_margin_rate"),
    ({"grid": {"liquidation_fee_rate": ["2"]}}, "candidate liquidation_fee_rate=2: partial-v1 refuses these params"),
    ({"grid": {"x": ["1"]}, "extra": 1}, "unknown keys ['extra']"),
])
def test_a_bad_grid_is_refused_naming_what_is_wrong(sqlite_url, tmp_path, grid, message):
    """A malformed grid, or one whose candidate the version refuses, exits 2 naming what is wrong."""
    assert run(sqlite_url, "init")[0] == 0 and run(sqlite_url, "ingest", str(CRASH))[0] == 0
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    code, _, err = run(sqlite_url, "sweep", "--rules", "partial-v1", "--grid", str(path), "--workers", "1")
    assert code == 2 and message in err, err


def test_candidates_are_every_combination_in_a_fixed_order():
    """Candidates are every combination of the grid's values in a fixed order, each applied to a copy of the base params.
    With no params in force to start from, making candidates is refused."""
    base = {"liquidation_fee_rate": "0.002", "target_buffer": "0.25",
            "markets": {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}}
    grid = {"grid": {"target_buffer": ["0.1", "0.5"], "markets.BTC-PERP.maintenance_margin_rate": ["0.004", "0.006"]}}
    found = candidates_of(["partial-v1", "tiered-v1"][:1], grid, base)
    assert [c.varied for c in found] == [
        {"target_buffer": "0.1", "markets.BTC-PERP.maintenance_margin_rate": "0.004"},
        {"target_buffer": "0.1", "markets.BTC-PERP.maintenance_margin_rate": "0.006"},
        {"target_buffer": "0.5", "markets.BTC-PERP.maintenance_margin_rate": "0.004"},
        {"target_buffer": "0.5", "markets.BTC-PERP.maintenance_margin_rate": "0.006"},
    ]
    assert found[3].params["markets"]["BTC-PERP"]["maintenance_margin_rate"] == "0.006"
    assert base["target_buffer"] == "0.25", "the base params are never changed"
    with pytest.raises(InvalidEvent, match="no params in force"):
        candidates_of(["partial-v1"], grid, None)


def test_the_report_charts_the_figures_a_sweep_row_has():
    """The heatmaps keep their own list (reports may not import compliance): it must stay the sweep's."""
    from ledger.compliance import sweep as sweep_rows
    from ledger.reports import sweep_charts

    assert sweep_charts.FIGURES == sweep_rows.FIGURES


def test_a_dask_worker_answers_each_history_from_its_own_rows(sqlite_url):
    """A worker of a shared cluster may serve sweeps of other histories: its decoded rows are matched by content.

    The two shipped batches here hash alike (as two histories would, once in
    2**64); a cache keyed by the hash would answer the second from the first's
    rows.
    """
    from ledger.compliance import sweep as sweeping
    from ledger.domain.timefmt import parse_time

    class SameHash(bytes):
        def __hash__(self) -> int:
            return 0

    with Ledger.open(sqlite_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
        middle = ledger.store.row_at(ledger.store.head()[0] // 2).at
        whole = SameHash(sweeping.history_batch(ledger.store))
        cut = SameHash(sweeping.history_batch(ledger.store, upto_at=middle))
        assert whole != cut and hash(whole) == hash(cut)
        candidate = _candidates(ledger)[0]
        for batch, end in ((whole, None), (cut, parse_time(middle)), (whole, None)):
            expected = sweep(ledger.store, [candidate], end=end, workers=1)
            assert sweeping._on_dask([candidate], batch, None, None) == [expected]  # the batch alone says where it ends
        assert expected != sweep(ledger.store, [candidate], end=parse_time(middle), workers=1), "the cut changes the row"
        assert sweeping._dask_rows(whole) is sweeping._dask_rows(SameHash(bytes(whole))), "an equal batch is not decoded again"
        assert sweeping._dask_rows(cut).head()[0] < sweeping._dask_rows(whole).head()[0]


def test_local_workers_map_the_history_from_a_file_removed_when_the_sweep_ends(sqlite_url, tmp_path, monkeypatch):
    """Locally the history goes to a temporary file that each worker memory-maps: its columns are the file's pages
    (Arrow allocates next to nothing for them, where decoding shipped bytes copies the whole table into each
    worker), the rows are those of the shipped table, and the file is gone once the sweep ends."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa

    from ledger.compliance import sweep as sweeping

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[str, int, int]] = []
    mapped = sweeping._mapped_rows

    def measured(path: str):
        before = pa.total_allocated_bytes()
        rows = mapped(path)
        seen.append((path, pa.total_allocated_bytes() - before, rows.table.nbytes))
        return rows

    monkeypatch.setattr(sweeping, "_mapped_rows", measured)
    with Ledger.open(sqlite_url) as ledger:
        ledger.init()
        ledger.ingest_file(CRASH)
        candidates = _candidates(ledger)[:2]
        rows = sweep(ledger.store, candidates, workers=1)
        shipped = sweeping._rows(sweeping.history_batch(ledger.store))
        assert rows == [row for part in sweeping.evaluate(shipped, candidates, None, None) for row in part]
    [(path, allocated, size)] = seen
    assert size > 10_000 and allocated < size / 10, (allocated, size)
    assert not Path(path).exists() and list(tmp_path.glob("ledger-sweep-*")) == []


def test_a_place_that_cannot_take_the_history_file_is_refused_saying_where_and_leaves_nothing(
        sqlite_url, tmp_path, monkeypatch):
    """A temporary directory that cannot be used (gone after Python chose it; with only an unusable ``TMPDIR``
    Python itself falls back to /tmp), and a disk that fills while the history is written (the OS's error, made
    here as the OS makes it), exit 2 naming the directory and what to set, not an internal error (4); nothing is
    left behind and nothing is written to the ledger."""
    import errno
    import tempfile

    from ledger.compliance import sweep as sweeping

    assert run(sqlite_url, "init")[0] == 0 and run(sqlite_url, "ingest", str(CRASH))[0] == 0
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.01"]}}))
    with Ledger.open(sqlite_url) as ledger:
        head = ledger.head_seq()
    sweep_args = ("sweep", "--rules", "partial-v1", "--grid", str(grid), "--workers", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    code, _, err = run(sqlite_url, *sweep_args)
    assert code == 2 and f"could not under {tmp_path / 'no-such-dir'}" in err and "set TMPDIR" in err, err

    def full_disk(store, path, *, upto_at=None):
        with open(path, "wb") as partial:
            partial.write(b"ARROW1")
        raise OSError(errno.ENOSPC, "No space left on device")

    room = tmp_path / "room"
    room.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(room))
    monkeypatch.setattr(sweeping, "history_file", full_disk)
    code, _, err = run(sqlite_url, *sweep_args)
    assert code == 2 and f"could not under {room}: No space left on device" in err and "300 bytes an event" in err, err
    assert list(room.iterdir()) == [], "the partial file and its directory are removed"
    with Ledger.open(sqlite_url) as ledger:
        assert ledger.head_seq() == head

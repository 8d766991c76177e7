"""Rule sweeps: the history replayed under every candidate of a grid of rule versions and params, nothing written.

Risk teams choose liquidation parameters by replaying real history under many
candidates and comparing what each would have done. Every candidate is a
what-if world (``ledger.compliance.whatif``); the work spreads over workers: a
local process pool by default, or a Dask cluster (an existing scheduler,
``distributed``), never a scheduler of our own.

The history is read once into one Arrow table (the stored rows' columns,
IPC-serialised): written to a temporary file that every local worker
memory-maps (its columns are the file's pages, shared through the page
cache, not copied into each worker), or shipped to a Dask cluster's
workers, which decode it once each. The candidates go to
the workers in *passes* (as many as there are workers, at most
``PASS_CANDIDATES`` each): a pass reads the history once, folds what happened
once, and keeps each of its candidates as its differences from it
(``compliance.differential``), so a candidate costs what it changes, not a
re-run of the history. Each sweep row equals its candidate's what-if re-run in
full (``differential=False``, the reference the tests hold it to).

A grid file (JSON):

    {"params": {...},                                   # base params (default: the params in force at the head)
     "grid": {"liquidation_fee_rate": ["0.001", "0.002"],
              "target_buffer": ["0.1", "0.25", "0.5"],
              "markets.BTC-PERP.maintenance_margin_rate": ["0.004", "0.005"]}}

``grid`` maps a parameter (a dotted path into the params) to the values to
try; the candidates are every combination, for every ``--rules`` version, in
a fixed order (versions as given, then the grid's keys in file order, the last
varying fastest). Each candidate's params are checked by its version before
anything runs, so a bad grid is refused naming the candidate.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ledger import gc_policy
from ledger.compliance.whatif import Outcome, Policy, actual_world, adl_figures, column_labels, compare
from ledger.domain import events as ev
from ledger.domain.events import thaw
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.valuation import equity_by_asset
from ledger.errors import InvalidEvent, WorkspaceUnusable
from ledger.store import LogReader
from rules import registry

if TYPE_CHECKING:  # pyarrow is imported where rows are shipped, not by every command that imports this module
    from ledger.compliance.shipped_rows import ShippedRows as _Rows

__all__ = ["Candidate", "candidates_of", "history_batch", "history_file", "sweep", "FIGURES", "SweepRow", "LOSS_ALLOCATION",
           "MAX_CANDIDATES"]

FIGURES = ("liquidations", "closed_notional", "penalties", "bankruptcies", "socialized_loss", "insurance_fund_end",
           "accounts_wiped_out")
"""What each sweep row reports per settle asset (the issue's list, in its order)."""

SweepRow = dict[str, Any]



@frozen
class Candidate:
    """One point of the grid: a version, its full params, and the values the grid set (the row's label)."""

    number: int
    version: str
    params: Mapping[str, Any]
    varied: Mapping[str, str]
    policy: Policy | None = None
    """the loss-allocation policy (version, params) the candidate's world allocates with; None: the one in force"""


def _set(params: dict[str, Any], path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    node = params
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            raise InvalidEvent(f"{part!r} of {path!r} is not in the params", where=f"grid {path}")
        node = child
    node[leaf] = value


SCHEDULER_TIMEOUT = 10
"""Seconds to reach a Dask scheduler before the sweep is refused (exit 2), instead of hanging or crashing."""

MAX_CANDIDATES = 10_000
"""The most candidates a sweep runs unless told otherwise (``--max-candidates``): a grid of a million used a gigabyte
before anything ran."""

LOSS_ALLOCATION = "loss_allocation"
"""The grid key that varies the loss-allocation policy (a list of policies, each a name or {"version", "params"}),
and the row's column naming the policy."""


def candidates_of(
    versions: Sequence[str], grid: Mapping[str, Any], base: Mapping[str, Any] | None,
    policies: Sequence[Policy] = (), max_candidates: int = MAX_CANDIDATES,
) -> list[Candidate]:
    """Every combination of the grid for every version (and every loss-allocation policy given: the rows then name
    it, ``loss_allocation``), each checked by its version (``InvalidEvent`` naming it)."""
    if base is None:
        raise InvalidEvent("no params in force to vary: give base params in the grid file", where="grid params")
    keys = [key for key in grid["grid"] if key != LOSS_ALLOCATION]  # the policies come as ``policies``
    count = len(versions) * max(len(policies), 1) * math.prod(len(grid["grid"][k]) for k in keys)
    if count > max_candidates:
        raise InvalidEvent(f"{count:,} candidates, more than the {max_candidates:,} a sweep runs at most: narrow the grid, "
                           "or raise the bound with --max-candidates", where="grid")
    named_policies = column_labels([policy[0] for policy in policies])
    out: list[Candidate] = []
    for version in versions:
        rule = registry.get(version)
        for values in itertools.product(*(grid["grid"][k] for k in keys)):
            params = copy.deepcopy(dict(base))
            for key, value in zip(keys, values, strict=True):
                _set(params, key, value)
            varied = dict(zip(keys, values, strict=True))
            label = ", ".join(f"{k}={v}" for k, v in varied.items())
            try:
                rule.parse_params(params)
            except InvalidEvent as exc:
                raise InvalidEvent(f"{version} refuses these params: {exc}", where=f"candidate {label}") from None
            if not policies:
                out.append(Candidate(len(out) + 1, version, params, varied))
            for policy, name in zip(policies, named_policies, strict=True):
                out.append(Candidate(len(out) + 1, version, params, {**varied, LOSS_ALLOCATION: name}, policy))
    return out


# -- the history, read once and shipped as columns ------------------------------------------------------------------

def history_batch(store: LogReader, *, upto_at: str | None = None) -> bytes:
    """Every stored row up to ``upto_at`` as one Arrow table, IPC-serialised (what Dask workers receive)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    _write_history(store, sink, upto_at)
    shipped: bytes = sink.getvalue().to_pybytes()
    return shipped


HISTORY_FILE_BYTES = 300
"""About the bytes an event takes in ``history_file`` (the benchmark history: 295 MB for 1M events)."""


def history_file(store: LogReader, path: str, *, upto_at: str | None = None) -> None:
    """``history_batch`` written to the file ``path`` a record batch at a time: the process never holds the log."""
    import pyarrow as pa

    with pa.OSFile(path, "wb") as sink:
        _write_history(store, sink, upto_at)


def _write_history(store: LogReader, sink: Any, upto_at: str | None) -> None:
    import pyarrow as pa

    from ledger.store.arrow_rows import SCHEMA, record_batches

    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        for part in record_batches(store.read(upto_at=upto_at)):  # a batch at a time: bounded memory
            writer.write_batch(part)


def _rows(source: Any) -> _Rows:
    """The rows of a ``history_batch`` (its bytes) or of a ``history_file`` (memory-mapped, ``_mapped_rows``)."""
    import pyarrow as pa

    from ledger.compliance.shipped_rows import ShippedRows

    return ShippedRows(pa.ipc.open_stream(source).read_all())


def _mapped_rows(path: str) -> _Rows:
    """The rows of a ``history_file``, memory-mapped: a table whose columns are the file's pages, shared by every
    local worker through the page cache, not copied into each (at ten million events the shipped table was 3.5 GB
    of each worker's own memory)."""
    import pyarrow as pa

    return _rows(pa.memory_map(path))


PASS_CANDIDATES = 64
"""The most candidates one pass over the history carries (a pass folds what happened once for all of them,
``compliance.differential``; each candidate keeps a state of its own)."""


def evaluate(rows: _Rows, candidates: Sequence[Candidate], start: datetime | None,
             end: datetime | None, differential: bool = True) -> list[list[SweepRow]]:
    """The candidates' what-ifs on ``rows``, in one pass over the history, as sweep rows (per candidate, one per
    settle asset); ``differential=False``: every event re-run in every world (the reference)."""
    actual = None
    if start is None and not differential:
        # the full re-run from the start takes what happened as given, folded once per worker (a window forks it
        # instead; a differential pass folds it itself, for its worlds, and needs no other)
        upto = format_time(end) if end else None
        if upto not in rows.actual:
            rows.actual[upto] = actual_world(rows, upto)
        actual = rows.actual[upto]
    result = compare(rows, [(c.version, c.params) for c in candidates], start=start, end=end, actual=actual,
                     policies=[c.policy for c in candidates], differential=differential)
    return [_rows_of(candidate, world.seen_alt, world.alternative_state(result.actual_state), world.refused)
            for candidate, world in zip(candidates, result.worlds, strict=True)]


def _rows_of(candidate: Candidate, alt: Outcome, state: LedgerState, refused: list[dict[str, str]]) -> list[SweepRow]:
    """One candidate's sweep rows (one per settle asset): what its engine did, and what it left."""
    with arithmetic():
        wiped: dict[str, int] = {}
        for name in sorted(alt.by_account):
            for asset, value in equity_by_asset(state, state.account(name)).items():
                if value <= ZERO:
                    wiped[asset] = wiped.get(asset, 0) + 1
        assets = sorted(set(alt.by_asset) | set(state.system["insurance_fund"]) | set(wiped))
        out = []
        for asset in assets:
            figures = alt.by_asset[asset]
            out.append({
                "candidate": candidate.number, "version": candidate.version, **candidate.varied, "asset": asset,
                "liquidations": to_str(figures["liquidations"]),
                "closed_notional": to_str(figures["notional_liquidated"]),
                "penalties": to_str(figures["penalties"]),
                "bankruptcies": to_str(figures["bankruptcies"]),
                "socialized_loss": to_str(figures["socialized_loss"]),
                "insurance_fund_end": to_str(state.system["insurance_fund"].get(asset, ZERO)),
                "accounts_wiped_out": str(wiped.get(asset, 0)),
                "refused_events": str(len(refused)),
            })
        if candidate.policy is not None:  # what the loss-allocation policy did to whom, beside the socialized loss
            deleveraging = adl_figures(alt)
            for row in out:
                row.update(deleveraging.get(str(row["asset"]), _NO_DELEVERAGING))
    return out


def _passes(candidates: Sequence[Candidate], workers: int, differential: bool = True) -> list[list[Candidate]]:
    """The candidates in passes, in order: as many as it takes for every worker to have one, at most
    ``PASS_CANDIDATES`` each (one each on the full re-run, which shares nothing between worlds)."""
    size = max(1, min(PASS_CANDIDATES, -(-len(candidates) // max(1, workers)))) if differential else 1
    return [list(candidates[i:i + size]) for i in range(0, len(candidates), size)]


_NO_DELEVERAGING: dict[str, str | None] = {
    "adl_fills": "0", "adl_notional": "0", "accounts_hit": "0", "losing_positions_hit": "0", "largest_haircut_share": None,
}


# -- where candidates run --------------------------------------------------------------------------------------------

_worker: dict[str, _Rows] = {}
"""A pool worker's copy of the history, decoded once (by ``_load``, the pool's initializer)."""


def _load(path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the pool, at once
    gc_policy.collect_older_generations_rarely()  # a process of its own that replays (``ledger.gc_policy``)
    _worker["rows"] = _mapped_rows(path)


def _in_pool(task: tuple[list[Candidate], datetime | None, datetime | None, bool]) -> list[list[SweepRow]]:
    candidates, start, end, differential = task
    return evaluate(_worker["rows"], candidates, start, end, differential)


_dask_held: list[tuple[bytes, _Rows]] = []
"""A Dask worker's decoded history: the batch it was decoded from, and its rows (at most one)."""
_dask_lock = threading.Lock()


def _dask_rows(batch: bytes) -> _Rows:
    """The worker's rows for ``batch``, decoded once however many of its candidates the worker runs.

    Matched by content, not by a hash: a worker of a shared cluster may serve
    sweeps of other histories, before or between this one's candidates, and
    one of them must never be answered from another's rows. The scattered
    batch reaches every task as the same object, so the comparison is by
    identity, at no cost, except when the histories alternate. A Dask worker
    runs tasks in threads: the lock makes concurrent tasks of one batch wait
    for its one decoding, and each task keeps the rows it was given.
    """
    with _dask_lock:
        if not _dask_held or not (_dask_held[0][0] is batch or _dask_held[0][0] == batch):
            _dask_held[:] = [(batch, _rows(batch))]
        return _dask_held[0][1]


def _on_dask(candidates: list[Candidate], batch: bytes, start: datetime | None,
             end: datetime | None) -> list[list[SweepRow]]:
    return evaluate(_dask_rows(batch), candidates, start, end)


def sweep(
    store: LogReader, candidates: Sequence[Candidate], *, start: datetime | None = None, end: datetime | None = None,
    workers: int | None = None, scheduler: str | None = None, progress: Callable[[int], None] | None = None,
    differential: bool = True,
) -> list[SweepRow]:
    """Every candidate's rows, in candidate order: serially (``workers=1``), in a local process pool (default: one
    worker per core), or on the Dask cluster at ``scheduler``. ``differential=False``: each candidate re-runs every
    event on its own (the reference, and what a sweep cost before ``compliance.differential``).

    Locally the history goes to a temporary file (``history_file``, under ``TMPDIR``: about 300 bytes an event)
    that every worker memory-maps (a place that cannot take it is refused: ``_history_here``); a Dask cluster's
    workers, which may not see this machine's files, receive it."""
    upto_at = format_time(end) if end else None
    done = progress or (lambda n: None)
    if scheduler is not None:
        results = _on_cluster(scheduler, history_batch(store, upto_at=upto_at), candidates, start, end, done)
    else:
        with _history_here(store, upto_at) as path:
            if (workers or os.cpu_count() or 1) <= 1:
                rows = _mapped_rows(path)
                results = []
                for part in _passes(candidates, 1, differential):
                    results.extend(evaluate(rows, part, start, end, differential))
                    done(len(part))
            else:
                results = _on_pool(path, candidates, start, end, min(workers or os.cpu_count() or 1, len(candidates)) or 1,
                                   done, differential)
    return [row for rows in results for row in rows]


@contextmanager
def _history_here(store: LogReader, upto_at: str | None) -> Iterator[str]:
    """``history_file`` in a temporary directory (``TMPDIR``, or Python's fallbacks), removed when the sweep ends.

    A place that cannot take it (a full disk, no usable temporary directory)
    is refused as the operator's to fix, saying where and how much, instead
    of an internal error: at ten million events the file is about 3 GB."""
    try:
        holder = tempfile.TemporaryDirectory(prefix="ledger-sweep-", ignore_cleanup_errors=True)
    except OSError as exc:  # named without asking tempfile again: with no usable directory, asking raises once more
        raise _unusable(tempfile.tempdir or os.environ.get("TMPDIR") or "any temporary directory", exc) from None
    with holder as directory:  # removed whatever ends the sweep (Ctrl-C too)
        path = os.path.join(directory, "history.arrow")
        try:
            history_file(store, path, upto_at=upto_at)
        except OSError as exc:
            raise _unusable(os.path.dirname(directory), exc) from None
        yield path


def _unusable(place: str, exc: OSError) -> WorkspaceUnusable:
    return WorkspaceUnusable(
        f"TMPDIR: the sweep writes the history to a temporary file for its workers (about {HISTORY_FILE_BYTES} bytes "
        f"an event) and could not under {place}: {exc.strerror or exc}; set TMPDIR to a directory with room (or sweep "
        "on a Dask cluster: --scheduler)")


def _on_cluster(scheduler: str, batch: bytes, candidates: Sequence[Candidate], start: datetime | None,
                end: datetime | None, done: Callable[[int], None]) -> list[list[SweepRow]]:
    """Every candidate's rows from the Dask cluster at ``scheduler``, in candidate order (the history shipped)."""
    try:
        from distributed import Client
    except ImportError:
        raise InvalidEvent("the Dask cluster runtime is not installed: `pip install '.[cluster]'` (or leave out "
                           "--scheduler: a local process pool needs nothing more)", where="--scheduler") from None
    try:
        client: Any = Client(scheduler, timeout=SCHEDULER_TIMEOUT)  # type: ignore[no-untyped-call]  # unannotated
    except (OSError, TimeoutError) as exc:
        raise InvalidEvent(f"cannot reach the Dask scheduler {scheduler} within {SCHEDULER_TIMEOUT} s: {exc}",
                           where="--scheduler") from None
    with client:
        [shipped] = client.scatter([batch], broadcast=True)
        workers_there = max(1, len(client.scheduler_info().get("workers", {})))
        passes = _passes(candidates, workers_there)
        futures = [client.submit(_on_dask, part, shipped, start, end, pure=False) for part in passes]
        results = []
        try:
            for part, future in zip(passes, futures, strict=True):
                results.extend(future.result())
                done(len(part))
        finally:  # on Ctrl-C or an error, the cluster drops what is still queued
            client.cancel([future for future in futures if not future.done()])
    return results


def _on_pool(path: str, candidates: Sequence[Candidate], start: datetime | None, end: datetime | None, count: int,
             done: Callable[[int], None], differential: bool = True) -> list[list[SweepRow]]:
    """Every candidate's rows from ``count`` local worker processes, in candidate order.

    However the work stops (all done, a candidate's error, Ctrl-C), the workers
    are ended and waited for before this returns: a Ctrl-C stops the sweep at
    once, not after the candidates already queued, and leaves no process behind.
    The workers ignore SIGINT (a terminal sends it to them too): the parent ends them.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process holding database connections
    pool = context.Pool(count, initializer=_load, initargs=(path,))
    passes = _passes(candidates, count, differential)
    try:
        results = []
        tasks = [(part, start, end, differential) for part in passes]
        for part, found in zip(passes, pool.imap(_in_pool, tasks), strict=True):
            results.extend(found)
            done(len(part))
        pool.close()
        return results
    finally:
        pool.terminate()
        pool.join()


def base_params(store: LogReader) -> dict[str, Any] | None:
    """The params in force at the head of the log (the grid's default base)."""
    found = None
    for row in store.read(types=["rules_activated"]):
        found = thaw(row.event_as(ev.RulesActivated).params)
    return found

"""An ingest's in-memory steps, timed apart, on this tree and another, in alternating processes.

    python -m bench.engine_parts HISTORY.jsonl [--base-tree DIR] [--rounds 5]

Each round runs one process per tree (this one, then ``--base-tree``'s, a
checkout of an earlier commit), each timing, over every line of the history:
decoding (the decoder the tree's ingest uses: ``domain.fast_lines`` where it
exists, else ``domain.codec.decode_line``), then the engine's loop as an
append runs it on a fresh ledger, split into admission, the fold, the
liquidation index's upkeep (``LiquidationIndex.event_folded``) and the
engine's deciding after it (``EngineSession._decide``), each summed around
its own calls. The trees alternate so that a machine's swings fall on both;
the medians over the rounds are printed side by side. No database is
touched: ``bench.peers`` times the whole command and the storage layer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("decode", "admission", "fold", "index upkeep", "deciding")


def measure(history: Path) -> dict[str, float]:
    """The parts' seconds in this process (the tree is the one on ``sys.path``)."""
    from ledger import gc_policy

    try:
        from ledger.domain.fast_lines import decode_line_fast as decode
    except ImportError:  # a tree before the fast path
        from ledger.domain.codec import decode_line as decode

    gc_policy.collect_older_generations_rarely()  # as the CLI's commands run
    lines = history.read_bytes().splitlines()
    start = time.perf_counter()
    decoded = [decode(line) for line in lines if line.strip()]
    return {"decode": time.perf_counter() - start, **engine_steps(decoded)}


def engine_steps(decoded: list) -> dict[str, float]:
    """Seconds spent admitting, folding, keeping the index and deciding ``decoded``, as an append runs them (a fresh
    ledger, the default limits), each summed around its own calls (``bench.peers`` times its parts with it too)."""
    from ledger.domain.fast_apply import apply_fast
    from ledger.domain.idempotency import NewEvents
    from ledger.domain.money import arithmetic
    from ledger.domain.state import LedgerState
    from ledger.engine.admission import admit
    from ledger.engine.candidates import LiquidationIndex
    from ledger.engine.input_limits import InputLimits
    from ledger.engine.new_names import NewNames
    from ledger.engine.session import EngineSession

    index, names = LiquidationIndex(), NewNames()
    session = EngineSession(LedgerState(), index=index, names=names)
    new, limits, clock = NewEvents({}), InputLimits(), time.perf_counter
    spent = dict.fromkeys(PARTS[1:], 0.0)
    with arithmetic():  # as the append's fold runs
        for received in decoded:
            t0 = clock()
            event = admit(session.state, received, new, limits, names)
            assert event is not None, "a fresh ledger has stored nothing"
            t1 = clock()
            apply_fast(session.state, event)
            t2 = clock()
            names.folded(session.state)  # the new names join their namespaces: admission's bookkeeping
            t3 = clock()
            index.event_folded(session.state, event)
            t4 = clock()
            # the session's own step after a fold (private: no public call decides one event without admitting it)
            session._decide(event, on_copy=False)  # the engine's events are folded as they are made
            t5 = clock()
            spent["admission"] += (t1 - t0) + (t3 - t2)
            spent["fold"] += t2 - t1
            spent["index upkeep"] += t4 - t3
            spent["deciding"] += t5 - t4
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("--base-tree", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: measure and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.history)))
        return
    trees = [("now", ROOT)] + ([("base", args.base_tree.resolve())] if args.base_tree else [])
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
    for round_ in range(1, args.rounds + 1):
        for label, tree in trees:
            done = subprocess.run(  # this file run by its path: the tree's own ``ledger`` first on the path
                [sys.executable, __file__, str(args.history.resolve()), "--one"],
                check=True, capture_output=True, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
            runs[label].append(json.loads(done.stdout))
            print(f"round {round_} {label}: " + ", ".join(f"{p} {runs[label][-1][p]:.3f}" for p in PARTS), flush=True)
    print(f"\nmedians of {args.rounds} rounds (s)")
    print(f"{'part':<14}" + "".join(f"{label:>10}" for label, _ in trees) + ("     now/base" if len(trees) > 1 else ""))
    for part in (*PARTS, "total"):
        medians = {label: statistics.median(sum(r.values()) if part == "total" else r[part] for r in rs)
                   for label, rs in runs.items()}
        ratio = f"  {medians['now'] / medians['base']:10.2f}×" if len(trees) > 1 else ""
        print(f"{part:<14}" + "".join(f"{medians[label]:10.3f}" for label, _ in trees) + ratio)


if __name__ == "__main__":
    main()

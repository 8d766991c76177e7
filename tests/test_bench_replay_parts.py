"""The replay's ceiling (``bench.replay_parts``) times the work the replay really does.

The ceiling stands in docs/performance.md as the reason the replay's target
is out of reach, so what it times must be the replay's own work: the
gathering fold reaches the replay's figures (or it raises), and the "fewest
operations" it times form the same system books as the replay, value for
value. Checked on a small history of the benchmark's mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import replay_parts
from bench.run import write_history
from ledger import Ledger
from ledger.domain.state import CLEARING, EXTERNAL, FEES
from ledger.replay import load as replay


@pytest.fixture
def history(tmp_path: Path) -> tuple[str, Path]:
    lines = tmp_path / "history.jsonl"
    write_history(lines, 3000, 40)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    with Ledger.open(url) as ledger:
        ledger.init()
        ledger.ingest_file(lines)
    return url, tmp_path / "bench.db"


def test_the_timed_operations_form_the_replays_system_books(history):
    """The operations the benchmark times yield the replay's clearing, fee and external balances, value for value."""
    url, path = history
    with Ledger.open(url) as ledger:
        state = replay.state_at(ledger.store, use_snapshots=False)
    got = replay_parts.gather(str(path), state)
    assert len(got.trades) == len(got.keys) == len(got.stored) > 1000
    assert got.trades and any(trade[6] for trade in got.trades), "no trade met a realized PnL: the reducing path is untested"
    clearing, collected, external = replay_parts.arithmetic(got)
    assert clearing == state.system[CLEARING]["USD"]
    assert collected == state.system[FEES]["USD"]
    assert external == state.system[EXTERNAL]["USD"]


def test_the_gathering_fold_refuses_a_history_it_does_not_fold(history, tmp_path):
    """The benchmark's gathering fold refuses a history holding an event type outside the benchmark's mix."""
    url, path = history
    with Ledger.open(url) as ledger:
        state = replay.state_at(ledger.store, use_snapshots=False)
        ledger.ingest_file(_withdrawal(tmp_path))
    with pytest.raises(ValueError, match="withdrawal: not in the benchmark's mix"):
        replay_parts.gather(str(path), state)


def test_every_part_is_timed(history):
    """Every part of the replay's ceiling is timed, in the declared order, and each takes some time."""
    url, path = history
    with Ledger.open(url) as ledger:
        state = replay.state_at(ledger.store, use_snapshots=False)
    times = replay_parts.parts(str(path), replay_parts.gather(str(path), state))
    assert list(times) == list(replay_parts.PARTS)
    assert all(seconds > 0 for seconds in times.values())


def _withdrawal(tmp_path: Path) -> Path:
    line = {"type": "withdrawal", "id": "w-1", "at": "2024-01-02T00:00:00.000000Z", "account": "acct000001",
            "asset": "USD", "amount": "1"}
    path = tmp_path / "withdrawal.jsonl"
    path.write_text(json.dumps(line) + "\n")
    return path

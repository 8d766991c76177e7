"""Adding an event type is a checklist: every place that must know it names it, handled or exempt (docs/events.md).

A missed place gives silently wrong figures (the liquidation index misses a
liquidation, one account's replay or history leaves the event out, export
drops a field, a snapshot forgets what it changed), so each place declares how
it treats every event type and these tests hold each declaration to
``EVENT_TYPES`` and to what the code does with a real event of each type.
"""

from __future__ import annotations

import pytest

from ledger.domain import events as ev
from ledger.domain.snapshot import SNAPSHOT_CARRIES, dump_account, dump_state, load_account, load_state
from ledger.engine.candidates import INDEX_TREATMENT
from ledger.replay.account import ACCOUNT_REPLAY_SOURCES
from ledger.reports.export import EXPORT_UNFLATTENED, FLAT_FIELDS
from ledger.reports.history import HISTORY_ROWS, describe
from tests.support.every_type import one_of_each

CHECKLIST = {
    "the liquidation index (engine.candidates.INDEX_TREATMENT)": INDEX_TREATMENT,
    "the one-account replay (replay.account.ACCOUNT_REPLAY_SOURCES)": ACCOUNT_REPLAY_SOURCES,
    "history (reports.history.HISTORY_ROWS)": HISTORY_ROWS,
    "the snapshot format (domain.snapshot.SNAPSHOT_CARRIES)": SNAPSHOT_CARRIES,
}


def test_every_place_names_every_event_type_handled_or_exempt():
    """Each declaration has exactly the event types of ``EVENT_TYPES``: a new type fails here until every place says
    how it treats it (handled, or exempt with the reason)."""
    for place, declared in CHECKLIST.items():
        assert set(declared) == set(ev.EVENT_TYPES), f"{place}: {sorted(set(ev.EVENT_TYPES) ^ set(declared))}"
    unflattened = set(EXPORT_UNFLATTENED) - set(ev.EVENT_TYPES)
    assert not unflattened, f"export names types that do not exist: {unflattened}"


def test_the_sample_history_holds_every_event_type():
    """The checklist's sample history holds an event of every type, the engine's included."""
    _, events, _ = one_of_each()
    assert {e.TYPE for e in events} == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_the_one_account_replay_reads_each_type_from_the_stream_it_is_stored_in(kind):
    """The one-account replay reads each event type from the stream that type is stored in."""
    _, events, _ = one_of_each()
    sample = next(e for e in events if kind == e.TYPE)
    assert ev.stream_of(sample).startswith(ACCOUNT_REPLAY_SOURCES[kind])


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_history_describes_every_type_it_shows(kind):
    """History describes in words every event type it shows; an account's own row names the account, a market's row the market."""
    _, events, _ = one_of_each()
    sample = next(e for e in events if kind == e.TYPE)
    if HISTORY_ROWS[kind].startswith("exempt"):
        return
    assert describe(sample) != sample.TYPE, f"describe() has no words for a {kind}"
    if HISTORY_ROWS[kind] == "own":
        assert getattr(sample, "account", None), f"a {kind} is an account's own row: it must name the account"
    else:
        assert getattr(sample, "market", None), f"a {kind} reaches holders of its market: it must name the market"


@pytest.mark.parametrize("kind", sorted(ev.EVENT_TYPES))
def test_export_gives_every_field_a_column_or_names_it(kind):
    """Every field is in the ``payload`` column; each is also a column of its own (``FLAT_FIELDS``) or named as
    left in the payload (``EXPORT_UNFLATTENED``)."""
    fields = {f.name for f in ev.flat_fields(ev.EVENT_TYPES[kind])} - {"id", "at"}
    left = set(EXPORT_UNFLATTENED.get(kind, ()))
    assert left <= fields, f"{kind}: names fields it does not have: {left - fields}"
    assert fields - left <= set(FLAT_FIELDS), f"{kind}: neither a column nor named: {fields - left - set(FLAT_FIELDS)}"


def test_a_state_holding_every_type_round_trips_through_both_snapshot_formats():
    """What each type changed (``SNAPSHOT_CARRIES``) is in the snapshot: after every event of the history, the state
    loaded from its snapshot dumps alike, and so does every account from its own."""
    state, _, states = one_of_each()
    for text in states:
        assert dump_state(load_state(text)) == text
    for name, account in state.accounts.items():
        text = dump_account(account, 7)
        loaded, version = load_account(text)
        assert version == 7 and dump_account(loaded, version) == text, name

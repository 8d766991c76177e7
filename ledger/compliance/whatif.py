"""``whatif``: real history replayed under other rule versions, side by side.

Nothing is written. The stored events are folded as they happened
(*actual*), and, from ``start`` on, a copy of that state forks off in which
every ingested event is re-run through an engine session of its own
(``engine.session``: the append's admission, fold and decisions) while the
liquidation engine decides with the substituted version (and parameters, when
given) wherever a rule was in force (*alternative*). Before ``start`` the two
worlds are one, folded once; the comparison covers ``start``..``end``. An
ingested event the alternative world refuses (say a withdrawal its
liquidations made impossible) is skipped there and reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from attrs import define, field

from ledger.compliance.differential import DifferentialWorld, SharedPass
from ledger.domain import events as ev
from ledger.domain.events import freeze
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.postings import Posting
from ledger.domain.state import INSURANCE_FUND, LedgerState, RulesInForce, clone
from ledger.domain.timefmt import format_time
from ledger.domain.valuation import equity_by_asset
from ledger.engine.liquidation import Substitute
from ledger.engine.session import EngineSession
from ledger.errors import InvalidBatch
from ledger.replay import load
from ledger.replay.runner import Observer, project
from ledger.store import LogReader, StoredEvent
from rules import registry
from rules.allocation import registry as allocation_registry
from rules.allocation.base import rounded

__all__ = ["Outcome", "WhatIf", "whatif", "Comparison", "compare", "METRICS", "SIDE_BY_SIDE", "column_labels"]

METRICS = ("liquidations", "qty_liquidated", "notional_liquidated", "penalties", "bankruptcies",
           "insurance_fund_used", "socialized_loss", "insurance_fund_end")
SIDE_BY_SIDE = ("liquidations", "notional_liquidated", "penalties", "bankruptcies", "insurance_fund_used",
                "socialized_loss", "insurance_fund_end")
"""What ``compare`` sets side by side for several versions (with each account's final equity)."""


@define
class Outcome:
    """What the engine did in one world, per settle asset and per account."""

    by_asset: dict[str, dict[str, Decimal]] = field(factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    by_account: dict[str, dict[str, Decimal]] = field(factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    versions: set[str] = field(factory=set)
    closes: list[tuple[str, str, Decimal]] = field(factory=list)
    """(time, settle asset, notional) of each close, in order: the cumulative closed notional over time"""
    deleveraged: list[ev.AutoDeleverage] = field(factory=list)
    """each auto-deleveraging, in order"""
    policy: str | None = None
    """the loss-allocation policy this world allocates with (None: the one in force at each bankruptcy)"""
    allocated_by: list[str] = field(factory=list)
    """the policy that allocated each bankruptcy's residual (what the insurance fund left), in order, once each"""

    def record(self, state: LedgerState, event: ev.Event) -> None:
        assert isinstance(event, ev.EngineEvent), "only the engine's events are recorded"
        with arithmetic():  # exact sums: Python's default context (28 digits) would round wide figures
            self._record(state, event)

    def _record(self, state: LedgerState, event: ev.EngineEvent) -> None:
        if isinstance(event, ev.AutoDeleverage):
            self._deleveraged(event)
            return
        self.versions.add(event.rule_version)
        figures: dict[str, Decimal]
        if isinstance(event, ev.Liquidation):
            asset = state.markets[event.market].settle_asset
            self.closes.append((format_time(event.at), asset, event.qty * event.price))
            figures = {"liquidations": Decimal(1), "qty_liquidated": event.qty,
                       "notional_liquidated": event.qty * event.price, "penalties": event.penalty}
        else:
            asset = event.asset
            figures = {"bankruptcies": Decimal(1), "insurance_fund_used": event.insurance_covered,
                       "socialized_loss": event.socialized_loss, "deficit": event.deficit,
                       "adl_covered": event.adl_covered}
            if event.deficit > event.insurance_covered:
                in_force = state.loss_allocation
                name = self.policy or (in_force.version if in_force else allocation_registry.DEFAULT)
                if name not in self.allocated_by:
                    self.allocated_by.append(name)
        for name, value in figures.items():
            self.by_asset[asset][name] += value
            self.by_account[event.account][name] += value

    def _deleveraged(self, event: ev.AutoDeleverage) -> None:
        """An auto-deleveraging's fills (what the loss-allocation policy made counterparties pay), kept apart from the
        liquidation metrics, which it leaves as they were."""
        self.deleveraged.append(event)


@define
class WhatIf:
    """A comparison of one alternative, shown as actual, alternative and their difference."""

    version: str
    window: dict[str, str | None]
    actual: Outcome
    alternative: Outcome
    actual_state: LedgerState
    alternative_state: LedgerState
    refused: list[dict[str, str]]
    policy_chosen: bool = False
    """whether the alternative world allocates with a loss-allocation policy of its own (the JSON then says what it
    did, even when it deleveraged no one)"""

    @classmethod
    def of(cls, comparison: Comparison) -> WhatIf:
        [world] = comparison.worlds
        return cls(comparison.labels[0], comparison.window, comparison.actual, world.seen_alt, comparison.actual_state,
                   world.alternative_state(comparison.actual_state), world.refused, world.policy is not None)

    def to_json(self) -> dict[str, Any]:
        with arithmetic():  # differences of wide figures, exact (Python's default context has 28 digits)
            return self._json()

    def _json(self) -> dict[str, Any]:
        assets = sorted(set(self.actual_state.system[INSURANCE_FUND]) | set(self.alternative_state.system[INSURANCE_FUND]))
        for outcome, state in ((self.actual, self.actual_state), (self.alternative, self.alternative_state)):
            for asset in assets:
                outcome.by_asset[asset]["insurance_fund_end"] = state.system[INSURANCE_FUND].get(asset, ZERO)
        summary = {
            asset: {
                metric: {
                    "actual": to_str(self.actual.by_asset[asset][metric]),
                    "alternative": to_str(self.alternative.by_asset[asset][metric]),
                    "difference": to_str(self.alternative.by_asset[asset][metric] - self.actual.by_asset[asset][metric]),
                }
                for metric in METRICS
            }
            for asset in assets
        }
        out = {
            "alternative_version": self.version,
            "actual_versions": sorted(self.actual.versions),
            "window": self.window,
            "summary": summary,
            "accounts": self._accounts(),
            "refused_in_alternative": self.refused,
        }
        if self.actual.deleveraged or self.alternative.deleveraged or self.policy_chosen:
            out["loss_allocation"] = {"actual": adl_figures(self.actual), "alternative": adl_figures(self.alternative)}
        return out

    def _accounts(self) -> list[dict[str, str]]:
        names = sorted(set(self.actual.by_account) | set(self.alternative.by_account))
        rows = []
        with arithmetic():
            for name in names:
                a, b = self.actual.by_account[name], self.alternative.by_account[name]
                rows.append({
                    "account": name,
                    "liquidations": f"{to_str(a['liquidations'])} -> {to_str(b['liquidations'])}",
                    "notional_actual": to_str(a["notional_liquidated"]),
                    "notional_alternative": to_str(b["notional_liquidated"]),
                    "penalties_actual": to_str(a["penalties"]),
                    "penalties_alternative": to_str(b["penalties"]),
                    "bankrupt_actual": to_str(a["bankruptcies"]),
                    "bankrupt_alternative": to_str(b["bankruptcies"]),
                    "equity_actual": _equity_text(self.actual_state, name),
                    "equity_alternative": _equity_text(self.alternative_state, name),
                })
        return rows


def _equity_text(state: LedgerState, name: str) -> str:
    """An account's final equity per settle asset, as one cell: ``USD 123.45``."""
    with arithmetic():
        return " ".join(f"{asset} {to_str(value)}" for asset, value in equity_by_asset(state, state.account(name)).items())


Policy = tuple[str, Mapping[str, Any]]
"""A loss-allocation policy for a world: (version, params)."""

_WHATIF_AT = datetime(1970, 1, 1, tzinfo=UTC)


def _policy(policy: Policy | None) -> RulesInForce | None:
    """The activation a world allocates with, its params checked by the policy now (``InvalidRuleParams`` names the
    key)."""
    if policy is None:
        return None
    version, params = policy
    allocation_registry.get(version).parse_params(params)
    return RulesInForce(version, freeze(params), "whatif:loss-allocation", _WHATIF_AT)


def adl_figures(outcome: Outcome) -> dict[str, dict[str, str | None]]:
    """What the loss-allocation policy did in a world, per settle asset: its fills, the notional they closed, the
    accounts and the losing positions they hit, and the largest haircut as a share of that position's unrealised
    profit (null when no fill hit a profitable position)."""
    out: dict[str, dict[str, Any]] = {}
    with arithmetic():
        for event in outcome.deleveraged:
            figures = out.setdefault(event.asset, {"adl_fills": 0, "adl_notional": ZERO, "accounts_hit": set(),
                                                   "losing_positions_hit": 0, "largest_haircut_share": None})
            for fill in event.fills:
                profit = fill.size * (event.mark - fill.entry_price)
                figures["adl_fills"] += 1
                figures["adl_notional"] += fill.qty * event.mark
                figures["accounts_hit"].add(fill.account)
                figures["losing_positions_hit"] += profit < 0
                if profit > 0:  # a ratio: a fraction, exactly (the ledger's context refuses an inexact quotient)
                    share = Fraction(fill.haircut) / Fraction(profit)
                    largest = figures["largest_haircut_share"]
                    figures["largest_haircut_share"] = share if largest is None else max(largest, share)
    return {asset: {"adl_fills": str(f["adl_fills"]), "adl_notional": to_str(f["adl_notional"]),
                    "accounts_hit": str(len(f["accounts_hit"])), "losing_positions_hit": str(f["losing_positions_hit"]),
                    "largest_haircut_share": None if f["largest_haircut_share"] is None
                    else rounded(f["largest_haircut_share"], 6)}
            for asset, f in sorted(out.items())}


def _substitute(version: str | None, params: Mapping[str, Any] | None) -> Substitute | None:
    """The rules to decide with instead of those in force: ``version``, with ``params`` or the params in force (None:
    the rules in force, for a world that varies only its loss-allocation policy)."""
    if version is None:
        return None
    rule = registry.get(version)
    frozen_params = freeze(params) if params is not None else None
    if params is not None:
        rule.parse_params(params)

    made: dict[int, tuple[RulesInForce, RulesInForce]] = {}  # per activation: asked at every event, built once

    def substitute(rules: RulesInForce) -> RulesInForce:
        found = made.get(id(rules))
        if found is not None and found[0] is rules:
            return found[1]
        chosen = frozen_params if frozen_params is not None else rules.params
        made[id(rules)] = (rules, RulesInForce(version, chosen, f"whatif:{rules.event_id}", rules.at))
        return made[id(rules)][1]

    return substitute


def whatif(
    store: LogReader,
    version: str | None,
    params: Mapping[str, Any] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    indexed: bool = True,
    actual: LedgerState | None = None,
    policy: Policy | None = None,
) -> WhatIf:
    """One alternative against what happened: a comparison of one (``compare``), shown as actual, alternative and
    their difference (``WhatIf.to_json``)."""
    return WhatIf.of(compare(store, [(version, params)], start=start, end=end, progress=progress, indexed=indexed,
                             actual=actual, policies=[policy]))


@define
class Comparison:
    """Several versions replayed side by side on the same history (one pass over the log, one world each)."""

    labels: list[str]
    window: dict[str, str | None]
    actual: Outcome
    actual_state: LedgerState
    worlds: list[_Worlds]

    def to_json(self) -> dict[str, Any]:
        with arithmetic():  # differences of wide figures, exact (Python's default context has 28 digits)
            return self._json()

    def _json(self) -> dict[str, Any]:
        columns = [("actual", self.actual, self.actual_state)] + [
            (label, world.seen_alt, world.alternative_state(self.actual_state))
            for label, world in zip(self.labels, self.worlds, strict=True)
        ]
        assets = sorted({asset for _, _, state in columns for asset in state.system[INSURANCE_FUND]})
        summary = {
            asset: {metric: {label: to_str(_figure(outcome, state, asset, metric)) for label, outcome, state in columns}
                    for metric in SIDE_BY_SIDE}
            for asset in assets
        }
        names = sorted({name for _, outcome, _ in columns for name in outcome.by_account}  # liquidated in some world
                       | {fill.account for _, outcome, _ in columns for event in outcome.deleveraged for fill in event.fills})
        accounts = [
            {"account": name, **{f"equity_{label}": _equity_text(state, name) for label, _, state in columns}}
            for name in names
        ]
        cumulative: dict[str, list[list[str]]] = {}
        for label, outcome, _ in columns:
            total, points = ZERO, []
            with arithmetic():
                for at, asset, notional in outcome.closes:
                    total += notional
                    points.append([at, asset, to_str(total)])
            cumulative[label] = points
        out = {
            "versions": self.labels,
            "actual_versions": sorted(self.actual.versions),
            "window": self.window,
            "summary": summary,
            "accounts": accounts,
            "cumulative_notional": cumulative,
            "refused": {label: world.refused for label, world in zip(self.labels, self.worlds, strict=True)},
        }
        if any(outcome.deleveraged for _, outcome, _ in columns) or any(w.policy is not None for w in self.worlds):
            out["loss_allocation"] = {label: _allocation_json(outcome, assets) for label, outcome, _ in columns}
        return out


def _figure(outcome: Outcome, state: LedgerState, asset: str, metric: str) -> Decimal:
    """A world's figure: what its engine did, or (``insurance_fund_end``) the fund it was left with."""
    if metric == "insurance_fund_end":
        return state.system[INSURANCE_FUND].get(asset, ZERO)
    return outcome.by_asset[asset][metric]


_ALLOCATED = ("deficit", "insurance_fund_used", "adl_covered", "socialized_loss")
"""How a world's bankruptcies were paid, per settle asset: deficit = insurance_fund_used + adl_covered + socialized"""


def _allocation_json(outcome: Outcome, assets: list[str]) -> dict[str, Any]:
    """What a world's loss allocation did: the policies that allocated, how each asset's deficit was paid, the
    deleveraging figures, and who paid (one row per account and asset, largest haircut first)."""
    paid: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    with arithmetic():
        for event in outcome.deleveraged:
            for fill in event.fills:
                row = paid[(fill.account, event.asset)]
                row[0], row[1], row[2] = row[0] + 1, row[1] + fill.qty, row[2] + fill.haircut
    payers = sorted(paid.items(), key=lambda item: (-item[1][2], item[0]))
    return {
        "policies": list(outcome.allocated_by),
        **{figure: {asset: to_str(outcome.by_asset[asset][figure]) for asset in assets} for figure in _ALLOCATED},
        "deleveraging": adl_figures(outcome),
        "paid_by": [{"account": account, "asset": asset, "fills": to_str(fills), "qty": to_str(qty),
                     "haircut": to_str(haircut)} for (account, asset), (fills, qty, haircut) in payers],
    }


def compare(
    store: LogReader,
    candidates: Sequence[tuple[str | None, Mapping[str, Any] | None]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    indexed: bool = True,
    actual: LedgerState | None = None,
    policies: Sequence[Policy | None] | None = None,
    differential: bool = True,
) -> Comparison:
    """Each (version or None for the rules in force, params or None for those in force) replayed on the same history,
    side by side with what happened.

    ``indexed`` lets marks check only the candidates of a liquidation index
    built for each world's substituted rules; the outcome is the same as a
    full scan's. ``actual``: the actual world's final state (up to ``end``),
    when the caller already has it (a sweep replays it once for all its
    candidates); it is only read, and only without a window start. ``policies``: the loss-allocation policy each
    candidate's world allocates with (None: the one in force), in candidate order. ``differential``: from the start,
    each world re-runs only what differs from what happened (``compliance.differential``); False re-runs every
    event in every world (the reference).
    """
    lower = format_time(start) if start else None
    chosen = list(policies) if policies is not None else [None] * len(candidates)
    worlds = [_Worlds(_substitute(version, params), indexed, lower, _policy(policy))
              for (version, params), policy in zip(candidates, chosen, strict=True)]
    upto = format_time(end) if end else None
    if start is None and worlds:  # the worlds part at the first event: only the alternatives are re-run event by event
        actual = _alternatives_from_the_start(store, worlds, upto, progress, actual, differential)
    else:
        actual = project(store, upto_at=upto, observers=worlds, progress=progress)
    labels = column_labels([_label(version, policy) for (version, _), policy in zip(candidates, chosen, strict=True)])
    window = {"from": lower, "to": format_time(end) if end else None}
    seen = worlds[0].seen_actual if worlds else Outcome()
    return Comparison(labels, window, seen, actual, worlds)


def actual_world(store: LogReader, upto_at: str | None) -> LedgerState:
    """What happened, up to ``upto_at``, folded on the replay's fast path (business time never goes back, so the rows
    up to a time are a prefix of the log, found by a binary search)."""
    last = None if upto_at is None else store.last_seq_at_or_before(upto_at)
    return load.folded(store, last)


def _alternatives_from_the_start(
    store: LogReader, worlds: Sequence[_Worlds], upto_at: str | None, progress: Callable[[int], None] | None,
    actual: LedgerState | None, differential: bool = True,
) -> LedgerState:
    """A what-if with no window start: each alternative world is re-run from an empty state, and what happened (the
    actual world) is folded once, or taken as given.

    ``differential`` (the default): what happened is folded once for all the
    worlds, and each world re-runs only what differs from it
    (``compliance.differential``); otherwise every world re-runs every event
    (the reference the differential worlds are held to). The same outcome as
    forking the actual world at the first event (``_Worlds.before``): the
    engine events of what happened are recorded as they are read (their settle
    asset is the market's, listed alike in every world)."""
    for world in worlds:
        world.fork(LedgerState())
    shared = SharedPass([world.differential() for world in worlds]) if differential else None
    last = 0
    for row in store.read(upto_at=upto_at):
        event = row.event()
        if event.TYPE in ev.ENGINE_TYPES:
            for world in worlds:
                assert world.alternative is not None
                world.seen_actual.record(world.alternative, event)
        if shared is not None:
            shared.step(row, event)
        elif event.TYPE not in ev.ENGINE_TYPES:
            for world in worlds:
                world.rerun(row, event)
        last = row.seq
        if progress is not None:
            progress(1)
    if shared is not None:
        shared.finish()
    if actual is None:
        actual = shared.state if shared is not None else load.folded(store, last)
    assert actual.seq == last, "the actual world given ends where the history read does"
    return actual


def _label(version: str | None, policy: Policy | None) -> str:
    """A world's column name: its rule version, its policy after a ``/``, or only the policy under the rules in force."""
    if version is None:
        return policy[0] if policy is not None else "in-force"
    return version if policy is None else f"{version}/{policy[0]}"


def column_labels(versions: list[str]) -> list[str]:
    """The versions as column names; one compared twice (with other params) gets ``#2``, ``#3``."""
    labels: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    for version in versions:
        counts[version] += 1
        labels.append(version if counts[version] == 1 else f"{version}#{counts[version]}")
    return labels


class _Worlds(Observer):
    """Forks the alternative world off the actual one at the window's first event, then re-runs each event there."""

    def __init__(self, substitute: Substitute | None, indexed: bool, lower: str | None,
                 policy: RulesInForce | None = None) -> None:
        self.substitute, self.indexed, self.lower = substitute, indexed, lower  # an index is built at the first mark
        self.policy = policy
        self.world: EngineSession | None = None
        """the alternative world, once forked"""
        self.seen_actual, self.seen_alt = Outcome(), Outcome(policy=None if policy is None else policy.version)
        self.refused: list[dict[str, str]] = []
        self.differential_world: DifferentialWorld | None = None
        """the world kept as its differences from what happened (a what-if from the start), once made"""

    @property
    def alternative(self) -> LedgerState | None:
        return None if self.world is None else self.world.state

    def differential(self) -> DifferentialWorld:
        """This world (forked) kept as its differences from what happened; it re-runs events itself once handed over."""
        assert self.world is not None

        def refused(row: StoredEvent, reason: str) -> None:
            self.refused.append({"event": row.event_id, "seq": str(row.seq), "reason": reason})

        self.differential_world = DifferentialWorld(self.world.state, self.substitute, self.policy,
                                                    made=self.seen_alt.record, refused=refused, handover=self.rerun)
        return self.differential_world

    def fork(self, actual: LedgerState) -> None:
        """The alternative world from here on: a copy of ``actual``, deciding with the substituted rules."""
        self.world = EngineSession(actual).fork(self.substitute, indexed=self.indexed, policy=self.policy)

    def alternative_state(self, actual: LedgerState) -> LedgerState:
        """The alternative world's state (the actual one's copy when nothing fell in the window)."""
        return self.world.state if self.world is not None else clone(actual)

    def before(self, state: LedgerState, row: StoredEvent, event: ev.Event) -> None:
        if self.world is None and (self.lower is None or row.at >= self.lower):
            self.fork(state)  # business time never goes back: the window, once entered, lasts

    def after(self, state: LedgerState, row: StoredEvent, event: ev.Event, postings: list[Posting]) -> None:
        if self.world is None:
            return  # before the window both worlds are the same one
        if event.TYPE in ev.ENGINE_TYPES:
            self.seen_actual.record(state, event)
            return
        self.rerun(row, event)

    def rerun(self, row: StoredEvent, event: ev.Event) -> None:
        """``event`` re-run in the alternative world, with its engine deciding by the substituted rules."""
        assert self.world is not None
        try:
            made = self.world.fold([(f"event {event.id}", event)]).to_append[1:]
        except InvalidBatch as exc:
            self.refused.append({"event": event.id, "seq": str(row.seq), "reason": str(exc.errors[0])})
            return
        for engine_event in made:
            self.seen_alt.record(self.world.state, engine_event)

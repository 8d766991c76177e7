"""Where a report comes from, stated at its top: a compliance file must be able to hold it and say what it shows.

When it was generated, from which database (its URL with any password
masked), up to which event and chain hash (and whether appends are sealed),
the rule versions and loss-allocation policies in force over the history
with their params, and what the report compares (the what-if versions and
policies with their params files, the sweep's rows). The generation time is
the shell's clock; everything else comes from the log.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from ledger.domain.events import thaw
from ledger.domain.state import LedgerState, RulesInForce
from ledger.domain.timefmt import format_time
from rules.allocation import registry as allocation_registry

__all__ = ["Provenance", "provenance_section"]


@frozen
class Provenance:
    """What the shell knows of a report's making: when, from where, and what it was asked to compare."""

    generated_at: str
    database: str
    sealed: bool
    compared: Sequence[str] = ()
    """one line per alternative the report sets beside what happened (a version, a policy, a sweep's file)"""


def _activations(history: Sequence[RulesInForce], kind: str) -> list[dict[str, str]]:
    return [{"kind": kind, "from": format_time(r.at), "event": r.event_id, "version": r.version,
             "params": json.dumps(thaw(r.params), sort_keys=True, separators=(", ", ": "))} for r in history]


def provenance_section(made: Provenance, state: LedgerState, head_hash: str,
                       table: Callable[[list[dict[str, Any]], list[str]], str]) -> list[str]:
    """The report's opening: a definition list of where it comes from, then every activation in force over the
    history (``table`` renders rows as the report's own tables do)."""
    facts = [
        ("Generated", f"{made.generated_at} (UTC)"),
        ("Database", made.database),
        ("Up to", f"event #{state.seq}" + (f", business time {format_time(state.last_at)}" if state.last_at else "")),
        ("Chain hash at that event", head_hash),
        ("Appends sealed with a key", "yes (ledger verify checks every seal)" if made.sealed else
         "no key configured: the chain shows careless edits only"),
    ]
    if made.compared:
        facts.append(("Compared with what happened", "; ".join(made.compared)))
    items = "".join(f"<dt>{html.escape(k)}</dt><dd><code>{html.escape(v)}</code></dd>" for k, v in facts)
    rows = _activations(state.rules_history, "rules") + _activations(state.loss_allocation_history, "loss allocation")
    parts = ["<section id='provenance'><h2>Provenance</h2>", f"<dl>{items}</dl>",
             "<h3>Rules and loss-allocation policies in force over the history</h3>"]
    if rows:
        parts.append(table(rows, ["kind", "from", "event", "version", "params"]))
    else:
        parts.append("<p>No rule version was ever activated: nothing was liquidated.</p>")
    if not state.loss_allocation_history:
        parts.append("<p>No loss-allocation policy was activated: bankruptcies the insurance fund could not cover were "
                     f"socialized ({allocation_registry.DEFAULT}, the default).</p>")
    parts.append("</section>")
    return parts

"""Parsed once per activation: what the rules and the loss-allocation policies ask of an activation at every event.

A rule version's params (or a policy's) are parsed from the activation's
frozen mapping the first time they are asked for and kept, keyed by the
activation itself (its identity, checked: an id may be reused once the
activation is gone), never by event id (two ledgers may use one id for
different things).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ledger.domain.events import thaw
from ledger.domain.state import RulesInForce

__all__ = ["parsed_once"]

_PARSED: dict[int, tuple[RulesInForce, Any]] = {}
_PARSED_MOST = 4096
"""Activations kept parsed at once (a sweep makes one per candidate per activation); beyond, the cache starts over."""


def parsed_once(activation: RulesInForce, parse: Callable[[Mapping[str, Any]], Any]) -> Any:
    """``parse`` of the activation's params, the first time; the same value every time after."""
    found = _PARSED.get(id(activation))
    if found is not None and found[0] is activation:
        return found[1]
    parsed = parse(thaw(activation.params))
    if len(_PARSED) >= _PARSED_MOST:
        _PARSED.clear()
    _PARSED[id(activation)] = (activation, parsed)
    return parsed

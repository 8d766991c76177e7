"""A figure derived from one parsed params object (or one activation), computed once per object instead of per use.

Parsed params live as long as their activation's cache entry, and the
liquidation index and the rule checks ask for the same derived figures at
nearly every fill: a version's slopes per market (``rules.triggers``), the
markets the activation in force margins (``ledger.engine.rule_checks``, kept
per activation). Each figure is kept beside the object itself and the one
other input it depends on (a rate table, the function that reads an
activation), compared by identity, so an id that Python reuses for another
object is never mistaken for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["PerParams"]

K = TypeVar("K")
V = TypeVar("V")


class PerParams(Generic[K, V]):
    """``derive(params, key)``, kept per params object (at most ``most`` of them, then forgotten at once: a sweep of
    many candidates holds as many params objects, each needed while its world runs). Both the params and the key are
    compared by identity: a key must be one lasting object (a module's function, a registered version), not a lambda
    or a bound method made anew at each call, which would derive again every time."""

    __slots__ = ("_derive", "_found", "_most")

    def __init__(self, derive: Callable[[Any, K], V], most: int = 256) -> None:
        self._derive = derive
        self._most = most
        self._found: dict[int, tuple[Any, K, V]] = {}

    def __call__(self, params: Any, key: K) -> V:
        found = self._found.get(id(params))
        if found is None or found[0] is not params or found[1] is not key:
            if len(self._found) >= self._most:
                self._found.clear()
            found = self._found[id(params)] = (params, key, self._derive(params, key))
        return found[2]

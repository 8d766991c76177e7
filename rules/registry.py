"""The table of rule versions, keyed by stable names stored in the log.

Adding a version: write ``rules/versions/<name>.py`` exposing ``RULE``, add one
line here, add its golden tests. Never edit or remove a released entry: the
log refers to these names forever. No decorators, no import side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ledger.errors import UnknownRuleVersion
from rules.base import RuleVersion
from rules.versions import full_v1, partial_v1, stepped_v1, tiered_v1

__all__ = ["REGISTRY", "get", "names"]

REGISTRY: Mapping[str, RuleVersion] = MappingProxyType(
    {
        "full-v1": full_v1.RULE,
        "partial-v1": partial_v1.RULE,
        "tiered-v1": tiered_v1.RULE,
        "stepped-v1": stepped_v1.RULE,
    }
)


def get(name: str) -> RuleVersion:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownRuleVersion(f"unknown rule version {name!r} (registered: {known})") from None


def names() -> list[str]:
    return sorted(REGISTRY)

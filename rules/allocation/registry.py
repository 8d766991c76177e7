"""The table of loss-allocation policies, keyed by the stable names stored in the log.

Adding a policy: write ``rules/allocation/policies/<name>.py`` exposing
``POLICY``, add one line here, its tests and its section in docs/rules.md.
Never edit or remove a released entry: the log refers to these names forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ledger.errors import UnknownRuleVersion
from rules.allocation.base import LossPolicy
from rules.allocation.policies import adl_prorata_v1, adl_ranked_v1, socialize_v1

__all__ = ["POLICIES", "get", "names", "DEFAULT"]

POLICIES: Mapping[str, LossPolicy] = MappingProxyType(
    {
        "socialize-v1": socialize_v1.POLICY,
        "adl-ranked-v1": adl_ranked_v1.POLICY,
        "adl-prorata-v1": adl_prorata_v1.POLICY,
    }
)

DEFAULT = "socialize-v1"
"""In force before any ``loss_allocation_activated`` event: what the ledger always did."""


def get(name: str) -> LossPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise UnknownRuleVersion(f"unknown loss-allocation policy {name!r} (registered: {known})") from None


def names() -> list[str]:
    return sorted(POLICIES)

"""Counts as people read them, for every message and report: ``1 seal``, ``2 seals``, ``0 seals``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, the noun plural unless ``n`` is 1 (the nouns the ledger counts take an ``s``)."""
    return f"{n} {noun}{'s' * (n != 1)}"

"""Comparing figures as numbers: decimal strings read back as ``Decimal`` so that "0.0" equals "0"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["decimals"]


def decimals(value: Any) -> Any:
    """Decimal strings to Decimals, recursively, so "0.0" equals "0"."""
    if isinstance(value, dict):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimals(v) for v in value]
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value

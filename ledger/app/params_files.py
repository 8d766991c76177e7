"""The files a what-if and a sweep are given: rule parameters (``whatif --params FILE``, decoded by the pure
codec) and sweep grids (``sweep --grid FILE``, checked for shape). Read here, in the shell; the candidates they make are
checked by their rule versions (``compliance.sweep.candidates_of``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.domain.codec import decode_params_text
from ledger.errors import InvalidEvent

__all__ = ["read_params_file", "read_grid"]


def read_params_file(path: str | Path) -> dict[str, Any]:
    """The params in a JSON file; ``InvalidEvent`` naming the file if it cannot be read or is off-contract."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidEvent(f"cannot read: {exc.strerror}", where=str(path)) from None
    except UnicodeDecodeError:
        raise InvalidEvent("not valid UTF-8", where=str(path)) from None
    try:
        return decode_params_text(text)
    except InvalidEvent as exc:
        raise exc.located(str(path)) from None


def read_grid(path: str | Path) -> dict[str, Any]:
    """The grid file, checked for shape (``InvalidEvent`` naming the file and what is wrong)."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidEvent(f"cannot read the grid: {exc}", where=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("grid"), dict) or not data["grid"]:
        raise InvalidEvent('expected {"grid": {"PARAM": [VALUES, ...], ...}} (and optionally "params")', where=where)
    for key, values in data["grid"].items():
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InvalidEvent(f"grid {key!r}: expected a non-empty list of decimal strings", where=where)
    if "params" in data and not isinstance(data["params"], dict):
        raise InvalidEvent('"params" must be an object', where=where)
    unknown = set(data) - {"grid", "params"}
    if unknown:
        raise InvalidEvent(f"unknown keys {sorted(unknown)}", where=where)
    return data

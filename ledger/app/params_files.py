"""The files a what-if and a sweep are given: rule parameters (``whatif --params FILE``, decoded by the pure
codec) and sweep grids (``sweep --grid FILE``, checked for shape). Read here, in the shell; the candidates they make are
checked by their rule versions (``compliance.sweep.candidates_of``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger.compliance.sweep import LOSS_ALLOCATION
from ledger.domain.codec import decode_params, decode_params_text
from ledger.errors import InvalidEvent

__all__ = ["read_params_file", "read_grid", "grid_policies"]


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
    except RecursionError:
        raise InvalidEvent("cannot read the grid: JSON nested too deeply", where=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("grid"), dict) or not data["grid"]:
        raise InvalidEvent('expected {"grid": {"PARAM": [VALUES, ...], ...}} (and optionally "params")', where=where)
    for key, values in data["grid"].items():
        if key == LOSS_ALLOCATION:
            continue  # checked by grid_policies
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InvalidEvent(f"grid {key!r}: expected a non-empty list of decimal strings", where=where)
    if "params" in data and not isinstance(data["params"], dict):
        raise InvalidEvent('"params" must be an object', where=where)
    unknown = set(data) - {"grid", "params"}
    if unknown:
        raise InvalidEvent(f"unknown keys {sorted(unknown)}", where=where)
    return data


def grid_policies(grid: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """The loss-allocation policies a grid varies (``"loss_allocation": [NAME, {"version": NAME, "params": {...}}]``),
    as (version, params), in the grid's order; none when it does not vary them. Each entry's
    shape is checked here (``InvalidEvent`` naming the file and the entry); the policy checks its params."""
    values = grid["grid"].get(LOSS_ALLOCATION)
    if values is None:
        return []
    if not isinstance(values, list) or not values:
        raise InvalidEvent(f"grid {LOSS_ALLOCATION!r}: expected a non-empty list of policies", where=where)
    out: list[tuple[str, dict[str, Any]]] = []
    for n, value in enumerate(values):
        entry = f"grid {LOSS_ALLOCATION}[{n}]"
        if isinstance(value, str):
            out.append((value, {}))
            continue
        if not isinstance(value, dict) or not isinstance(value.get("version"), str) or set(value) - {"version", "params"}:
            raise InvalidEvent(f'{entry}: expected a policy name or {{"version": NAME, "params": {{...}}}}', where=where)
        try:
            out.append((value["version"], decode_params(value.get("params", {}), f"{entry}.params")))
        except InvalidEvent as exc:
            raise exc.located(where) from None
    return out

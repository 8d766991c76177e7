"""Rule parameter files (``whatif --params FILE``): read here, decoded by the pure codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.domain.codec import decode_params_text
from ledger.errors import InvalidEvent

__all__ = ["read_params_file"]


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

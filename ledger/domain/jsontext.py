"""The one canonical JSON text: sorted keys, no whitespace, UTF-8 kept.

What gets hashed (stored payloads) and what snapshots are written as. Kept
apart from the codec so that the state and the snapshot format need no
decoder to write it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the text that gets hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

"""Tamper evidence: each stored event's hash covers its row and the previous hash.

Changing, removing or inserting any row changes every later hash, so
recomputing the chain from the start names the first event that no longer
fits. The chain is a pure function of the rows.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["GENESIS", "chain_hash"]

GENESIS = "0" * 64


def chain_hash(
    previous: str,
    *,
    seq: int,
    event_id: str,
    stream: str,
    stream_version: int,
    type: str,
    schema_version: int,
    at: str,
    recorded_at: str,
    payload: str,
) -> str:
    row = json.dumps(
        [seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{previous}\n{row}".encode("utf-8")).hexdigest()

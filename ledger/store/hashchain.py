"""Tamper evidence: each stored event's hash covers its row and the previous hash.

Changing, removing or inserting any row changes every later hash, so
recomputing the chain from the start names the first event that no longer
fits. The chain is a pure function of the rows.
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring as _s

__all__ = ["GENESIS", "chain_hash"]

GENESIS = "0" * 64


def chain_hash(
    previous: str,
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
    # exactly json.dumps([...], separators=(",", ":"), ensure_ascii=False), built by hand for speed
    row = (f"[{seq},{_s(event_id)},{_s(stream)},{stream_version},{_s(type)},{schema_version},"
           f"{_s(at)},{_s(recorded_at)},{_s(payload)}]")
    return hashlib.sha256(f"{previous}\n{row}".encode()).hexdigest()

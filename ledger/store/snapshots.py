"""The snapshot cache: folded state saved at a point of the log, so a replay need not start from the first event.

Snapshots are a cache, never the truth: each records the hash of the event it
was taken after, and is used only while that event still carries that hash;
the audit compares every one with the full replay. Old whole-state snapshots
are thinned (``prune``) so the cache cannot outgrow the log.

A whole-ledger snapshot decides appends, so its content must be proven
before it is used: with a key, by its seal; without one, by the log itself.
The append that makes it due stores its digest (``snapshot_digest``: scope,
point, format and the sha256 of its content) in the row of the event it is
taken after, in the same transaction, and the database refuses to rewrite
that row. A whole-ledger snapshot whose digest the log does not hold (forged
by a user with rights on this table, or written before the log held digests,
or by ``ledger snapshot`` without a key) is never loaded, and ``verify``
names it. Account snapshots serve reads of one account; a key seals them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine, func, select

from ledger.store.identity import load_key_schedule
from ledger.store.key_schedule import KeySchedule
from ledger.store.schema import events, snapshots
from ledger.store.seals import Keyring

__all__ = ["SnapshotCache", "SqlSnapshots", "LEDGER_SCOPE", "snapshot_digest"]

LEDGER_SCOPE = "ledger"
"""The whole-ledger snapshot's scope: the one an append decides on, bound in the log by its digest."""

DIGEST_FORMAT = "ledger-snapshot-digest-v1"


def snapshot_digest(scope: str, seq: int, fmt: int, state: str) -> str:
    """What the log stores to vouch for a snapshot: sha256 over its scope, point, format and content's sha256."""
    content = hashlib.sha256(state.encode()).hexdigest()
    return hashlib.sha256(f"{DIGEST_FORMAT}\n{scope}\n{seq}\n{fmt}\n{content}".encode()).hexdigest()

_CHUNK = 500


class SnapshotCache(Protocol):
    """What the read side needs of a snapshot store; states are opaque text (``domain.snapshot`` formats them)."""

    def save(self, rows: Sequence[tuple[str, str]], seq: int, event_hash: str, fmt: int) -> None:
        """Several snapshots ((scope, state) pairs) of one point of the log, at once."""

    def prune(self, scope: str, *, keep_newest: int, keep_one_per: int) -> int:
        """Drop snapshots of ``scope`` but the newest few and the first in each span of ``keep_one_per`` events."""

    def latest(self, scope: str, fmt: int, upto_seq: int | None = None) -> tuple[int, str] | None:
        """(seq, state) of the newest snapshot of ``scope`` at or before ``upto_seq`` whose event hash still matches."""

    def latest_seq(self, scope: str, fmt: int) -> int:
        """Sequence number of the newest snapshot of ``scope`` (0 when none)."""

    def of_scope(self, scope: str, fmt: int) -> list[tuple[int, str]]:
        """Every snapshot of ``scope`` in ``fmt``: (seq, state), by seq."""

    def with_prefix(self, scope_prefix: str, fmt: int) -> list[tuple[str, int, str]]:
        """Every snapshot whose scope starts with ``scope_prefix``: (scope, seq, state), by seq."""

    def points(self) -> dict[int, tuple[str, set[str]]]:
        """seq -> (a scope snapshotted there, every event hash recorded there): where the cache says the log was."""

    def sealed(self) -> list[tuple[str, int, str, int, str, str | None]]:
        """Every snapshot as sealed: (scope, seq, event_hash, format, state, seal)."""

    def bindings(self, seqs: Sequence[int]) -> dict[int, str]:
        """The snapshot digest the log holds at each of these points that has one."""


class SqlSnapshots:
    """The cache in the ``snapshots`` table, beside the log it caches.

    With a key (``keyring``), each snapshot is sealed when saved and used only
    while its seal verifies: a row forged or altered by anyone without the
    key is never loaded (the replay falls back to an older one, or the log).
    """

    def __init__(self, engine: Engine, keyring: Keyring | None = None) -> None:
        self.engine = engine
        self.keyring = keyring

    def _schedule(self, conn: Connection) -> KeySchedule | None:
        return None if self.keyring is None else load_key_schedule(conn, self.keyring)

    def save(self, rows: Sequence[tuple[str, str]], seq: int, event_hash: str, fmt: int) -> None:
        if rows:
            with self.engine.begin() as conn:
                schedule = self._schedule(conn) if self.keyring is not None and self.keyring.can_seal else None
                sealing = schedule if schedule is not None and schedule.retired_at is None else None
                conn.execute(snapshots.insert(), [
                    {"scope": scope, "seq": seq, "event_hash": event_hash, "format": fmt, "state": state,
                     "seal": None if sealing is None else sealing.sign_snapshot(scope, seq, event_hash, fmt, state)}
                    for scope, state in rows
                ])

    def prune(self, scope: str, *, keep_newest: int, keep_one_per: int) -> int:
        """See ``SnapshotCache.prune``: what is kept bounds any as-of replay to ``keep_one_per`` events after its snapshot."""
        s = snapshots.c
        newest = select(s.id).where(s.scope == scope).order_by(s.seq.desc(), s.id.desc()).limit(keep_newest)
        firsts = select(func.min(s.id)).where(s.scope == scope).group_by(s.seq // keep_one_per)
        with self.engine.begin() as conn:
            kept = {r[0] for r in conn.execute(newest)} | {r[0] for r in conn.execute(firsts)}
            doomed = [r[0] for r in conn.execute(select(s.id).where(s.scope == scope)) if r[0] not in kept]
            for start in range(0, len(doomed), _CHUNK):
                conn.execute(snapshots.delete().where(s.id.in_(doomed[start:start + _CHUNK])))
        return len(doomed)

    def with_prefix(self, scope_prefix: str, fmt: int) -> list[tuple[str, int, str]]:
        query = (
            select(snapshots.c.scope, snapshots.c.seq, snapshots.c.state)
            .where(snapshots.c.scope.startswith(scope_prefix, autoescape=True), snapshots.c.format == fmt)
            .order_by(snapshots.c.seq, snapshots.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.scope, r.seq, r.state) for r in conn.execute(query)]

    def of_scope(self, scope: str, fmt: int) -> list[tuple[int, str]]:
        query = (
            select(snapshots.c.seq, snapshots.c.state)
            .where(snapshots.c.scope == scope, snapshots.c.format == fmt)
            .order_by(snapshots.c.seq)
        )
        with self.engine.connect() as conn:
            return [(r.seq, r.state) for r in conn.execute(query)]

    def latest_seq(self, scope: str, fmt: int) -> int:
        query = select(func.max(snapshots.c.seq)).where(snapshots.c.scope == scope, snapshots.c.format == fmt)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def points(self) -> dict[int, tuple[str, set[str]]]:
        query = select(snapshots.c.seq, snapshots.c.scope, snapshots.c.event_hash).order_by(snapshots.c.seq)
        found: dict[int, tuple[str, set[str]]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                found.setdefault(r.seq, (r.scope, set()))[1].add(r.event_hash)
        return found

    def sealed(self) -> list[tuple[str, int, str, int, str, str | None]]:
        """Every snapshot as sealed: (scope, seq, event_hash, format, state, seal), for ``verify``."""
        s = snapshots.c
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(s.scope, s.seq, s.event_hash, s.format, s.state, s.seal).order_by(s.seq, s.id))]

    def bindings(self, seqs: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        wanted = sorted(set(seqs))
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(events.c.seq, events.c.snapshot_digest).where(
                    events.c.seq.in_(wanted[start:start + _CHUNK]), events.c.snapshot_digest.is_not(None))
                found.update((r.seq, r.snapshot_digest) for r in conn.execute(query))
        return found

    def latest(self, scope: str, fmt: int, upto_seq: int | None = None) -> tuple[int, str] | None:
        query = (
            select(snapshots.c.seq, snapshots.c.state, snapshots.c.event_hash, snapshots.c.seal)
            .where(snapshots.c.scope == scope, snapshots.c.format == fmt)
            .order_by(snapshots.c.seq.desc())
        )
        if upto_seq is not None:
            query = query.where(snapshots.c.seq <= upto_seq)
        with self.engine.connect() as conn:
            schedule = self._schedule(conn)
            for snap in conn.execute(query.limit(3)):
                stored = conn.execute(
                    select(events.c.hash, events.c.snapshot_digest).where(events.c.seq == snap.seq)).first()
                if stored is None or stored.hash != snap.event_hash:
                    continue
                if schedule is not None:
                    if not schedule.snapshot_verifies(scope, snap.seq, snap.event_hash, fmt, snap.state, snap.seal):
                        continue  # unsealed (written before the key) or forged: never used by a keyed ledger
                elif scope == LEDGER_SCOPE and stored.snapshot_digest != snapshot_digest(scope, snap.seq, fmt, snap.state):
                    continue  # not the snapshot the log vouches for (forged, or never bound): never decides anything
                return snap.seq, snap.state
        return None

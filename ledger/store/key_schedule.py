"""Which key vouches for which events: the ledger's identity and its key rotations, trusted from the key at hand.

Two things a seal of format 1 did not say (#27 points 4 and 9):

* **which ledger** it belongs to. A second ledger sealed with the same key (a
  staging copy initialised apart, a test ledger) made seals that verified in
  production: an INSERT-only attacker could carry rows and their seals over.
  ``ledger init`` gives each database an identity (migration 0009, a random
  id, append-only) and every seal made since names it in the signed bytes
  (``ledger-seal-v2``). Seals of format 1 stay valid for the events the
  ledger held when it got its identity (``bound_from``), never after.
* **which key** was in force. A key is retired by a rotation record that both
  keys sign: the old key hands over (``old_signature``) and the new key
  accepts the history up to that point as the old key sealed it
  (``new_signature``), over the ledger's identity, the point and its chain
  hash. So whoever holds either key can follow the chain: from the key at
  hand backwards (each older key is vouched for by the newer one's signature)
  and forwards (each newer key by the older one's). A rotation record nobody
  signed, or records that do not form one chain, are refused: never believed.

This module is pure: the store reads the rows and asks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from attrs import frozen

from ledger.errors import UnsealedLog
from ledger.store.seals import Keyring, seal_message, snapshot_message

__all__ = ["KeySchedule", "Rotation", "rotation_message", "bound_seal_message", "bound_snapshot_message",
           "SEAL_FORMAT_V2"]

SEAL_FORMAT_V2 = "ledger-seal-v2"
"""Format 2 of the signed messages: the ledger's identity on the line after the format's name."""


def bound_seal_message(ledger_id: str, seq_from: int, seq_to: int, head_hash: str) -> bytes:
    """What a log seal of format 2 signs: this ledger, the rows it covers and the chain head after them."""
    return f"{SEAL_FORMAT_V2}\n{ledger_id}\nlog\n{seq_from}\n{seq_to}\n{head_hash}".encode()


def bound_snapshot_message(ledger_id: str, scope: str, seq: int, event_hash: str, fmt: int, state: str) -> bytes:
    """What a snapshot seal of format 2 signs: this ledger, and the snapshot's place and content (its digest)."""
    return b"%s\n%s\n" % (SEAL_FORMAT_V2.encode(), ledger_id.encode()) + snapshot_message(scope, seq, event_hash, fmt,
                                                                                           state)


def rotation_message(ledger_id: str, after_seq: int, head_hash: str, old_public: str, new_public: str) -> bytes:
    """What both keys of a rotation sign: the old key seals events up to ``after_seq``, the new one after it."""
    return f"{SEAL_FORMAT_V2}\n{ledger_id}\nrotate\n{after_seq}\n{head_hash}\n{old_public}\n{new_public}".encode()


@frozen
class Rotation:
    """A stored rotation record (table ``key_rotations``)."""

    after_seq: int
    head_hash: str
    old_public: str
    new_public: str
    old_signature: str
    new_signature: str


@frozen
class KeySchedule:
    """The keys of one ledger in order, each with the first event it seals; built from the key at hand."""

    ledger_id: str
    bound_from: int
    keys: tuple[Keyring, ...]
    starts: tuple[int, ...]
    current: Keyring

    @classmethod
    def build(cls, keyring: Keyring, ledger_id: str, bound_from: int, rotations: Sequence[Rotation]) -> KeySchedule:
        """The schedule as ``keyring`` can prove it (``UnsealedLog`` naming the record that does not hold)."""
        ordered = sorted(rotations, key=lambda r: r.after_seq)
        if not ordered:
            return cls(ledger_id, bound_from, (keyring,), (1,), keyring)
        chain = [ordered[0].old_public] + [r.new_public for r in ordered]
        for before, after in pairwise(ordered):
            if after.old_public != before.new_public or after.after_seq <= before.after_seq:
                raise UnsealedLog(f"the key rotation after event #{after.after_seq} does not continue the one after "
                                  f"#{before.after_seq}: a forged rotation record; nothing is trusted past it. "
                                  "Run `ledger verify`")
        if keyring.public_hex not in chain:
            raise UnsealedLog(f"key {keyring.key_id} is not one of this ledger's keys (it was rotated from "
                              f"{Keyring.from_public_hex(chain[0]).key_id} to "
                              f"{Keyring.from_public_hex(chain[-1]).key_id})")
        keys = tuple(keyring if public == keyring.public_hex else Keyring.from_public_hex(public) for public in chain)
        for index, rotation in enumerate(ordered):
            message = rotation_message(ledger_id, rotation.after_seq, rotation.head_hash, rotation.old_public,
                                       rotation.new_public)
            if not (keys[index].verifies(message, rotation.old_signature)
                    and keys[index + 1].verifies(message, rotation.new_signature)):
                raise UnsealedLog(f"the key rotation after event #{rotation.after_seq} (key {keys[index].key_id} to "
                                  f"{keys[index + 1].key_id}) is not signed by both keys: forged, never believed. "
                                  "Run `ledger verify`")
        return cls(ledger_id, bound_from, keys, (1, *(r.after_seq + 1 for r in ordered)), keyring)

    @property
    def newest(self) -> Keyring:
        return self.keys[-1]

    @property
    def retired_at(self) -> int | None:
        """The last event the key at hand sealed when a newer key took over, or None while it is the newest."""
        if self.current.public_hex == self.newest.public_hex:
            return None
        index = next(i for i, key in enumerate(self.keys) if key.public_hex == self.current.public_hex)
        return self.starts[index + 1] - 1

    def key_for(self, seq: int) -> Keyring:
        """The key in force for event ``seq`` (the one that seals it)."""
        index = 0
        while index + 1 < len(self.starts) and self.starts[index + 1] <= seq:
            index += 1
        return self.keys[index]

    def seal_verifies(self, seq_from: int, seq_to: int, head_hash: str, signature: str | None) -> bool:
        """Whether the key in force at ``seq_from`` made this seal, naming this ledger (format 1 only for events the
        ledger held before it had an identity)."""
        key = self.key_for(seq_from)
        if key.verifies(bound_seal_message(self.ledger_id, seq_from, seq_to, head_hash), signature):
            return True
        return seq_to <= self.bound_from and key.verifies(seal_message(seq_from, seq_to, head_hash), signature)

    def snapshot_verifies(self, scope: str, seq: int, event_hash: str, fmt: int, state: str, seal: str | None) -> bool:
        """Whether a key in force at or after ``seq`` sealed this snapshot (a snapshot of an old point may be taken
        after a rotation), naming this ledger (format 1 only at points before it had an identity)."""
        first = self.keys.index(self.key_for(seq))
        bound = bound_snapshot_message(self.ledger_id, scope, seq, event_hash, fmt, state)
        legacy = snapshot_message(scope, seq, event_hash, fmt, state) if seq <= self.bound_from else None
        return any(key.verifies(bound, seal) or (legacy is not None and key.verifies(legacy, seal))
                   for key in self.keys[first:])

    def sign_seal(self, seq_from: int, seq_to: int, head_hash: str) -> str:
        return self.current.sign(bound_seal_message(self.ledger_id, seq_from, seq_to, head_hash))

    def sign_snapshot(self, scope: str, seq: int, event_hash: str, fmt: int, state: str) -> str:
        return self.current.sign(bound_snapshot_message(self.ledger_id, scope, seq, event_hash, fmt, state))

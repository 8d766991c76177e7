"""Seals: the log and its snapshots authenticated with a key the database does not hold.

The hash chain alone proves nothing against someone who can write to the
database: anyone can compute the next sha256. So each committed append is
*sealed*: an Ed25519 signature (the ``cryptography`` library; nothing here is
hand-written crypto) over the range of sequence numbers it covers and the
chain head after it. The head hash covers every row before it, so a seal
vouches for the whole prefix; seals follow each other without gaps, and the
first seal a database ever gets covers its history from event 1 (whoever
configures the key vouches for the log as it then is: verify and audit it
first). A snapshot row is sealed too, over its scope, point, format and the
sha256 of its content, so a forged snapshot is never used.

The private key lives in a file outside the database (``ledger keygen``;
``--key`` or ``$LEDGER_KEY`` names it). A public key alone verifies but
cannot seal: a compliance machine can check a log it must not write to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from ledger.errors import KeyUnusable

if TYPE_CHECKING:  # the library is loaded only where a key is used: a ledger without one never pays its import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["Keyring", "generate_key", "seal_message", "snapshot_message", "SEAL_FORMAT"]

SEAL_FORMAT = "ledger-seal-v1"
"""The first line of every signed message: a later format is a new name, never a change to this one."""


def seal_message(seq_from: int, seq_to: int, head_hash: str) -> bytes:
    """What a log seal signs: the rows it covers and the chain head after the last of them."""
    return f"{SEAL_FORMAT}\nlog\n{seq_from}\n{seq_to}\n{head_hash}".encode()


def snapshot_message(scope: str, seq: int, event_hash: str, fmt: int, state: str) -> bytes:
    """What a snapshot seal signs: where the snapshot is in the log and a digest of its content."""
    digest = hashlib.sha256(state.encode()).hexdigest()
    return f"{SEAL_FORMAT}\nsnapshot\n{scope}\n{seq}\n{event_hash}\n{fmt}\n{digest}".encode()


@frozen
class Keyring:
    """A public key (to verify seals) and, when the file held one, its private key (to make them)."""

    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None
    source: str

    @property
    def key_id(self) -> str:
        """A short name of the public key (its sha256's first 16 hex digits), stored beside each seal."""
        return hashlib.sha256(bytes.fromhex(self.public_hex)).hexdigest()[:16]

    @property
    def public_hex(self) -> str:
        """The raw public key in hex: how a key rotation record names a key."""
        from cryptography.hazmat.primitives import serialization

        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

    @classmethod
    def from_public_hex(cls, public_hex: str, source: str = "a key rotation record") -> Keyring:
        """A verifying key from its raw hex (as a rotation record stores it); ``KeyUnusable`` if it is not one."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            return cls(Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)), None, source)
        except ValueError:
            raise KeyUnusable(f"{source} holds no Ed25519 public key") from None

    @property
    def can_seal(self) -> bool:
        return self.private is not None

    def sign(self, message: bytes) -> str:
        if self.private is None:
            raise KeyUnusable(f"{self.source} is a public key: it verifies seals but cannot make them (appends need "
                            "the private key)")
        return self.private.sign(message).hex()

    def verifies(self, message: bytes, signature: str | None) -> bool:
        from cryptography.exceptions import InvalidSignature

        if not signature:
            return False
        try:
            self.public.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        """A PEM private key (PKCS#8) or public key (SubjectPublicKeyInfo), Ed25519."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyUnusable(f"cannot read the key {path}: {exc.strerror}") from None
        try:
            if b"PRIVATE KEY" in data:
                private = serialization.load_pem_private_key(data, password=None)
                if not isinstance(private, Ed25519PrivateKey):
                    raise KeyUnusable(f"{path} is not an Ed25519 key")
                return cls(private.public_key(), private, str(path))
            public = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise KeyUnusable(f"{path} is not a PEM key: {exc}") from None
        if not isinstance(public, Ed25519PublicKey):
            raise KeyUnusable(f"{path} is not an Ed25519 key")
        return cls(public, None, str(path))


def generate_key(path: str | Path) -> tuple[Path, Path, str]:
    """A new Ed25519 key: the private key at ``path`` (readable by its owner only) and the public one at PATH.pub.

    Refuses to overwrite either file: a key that sealed a log must never be lost by accident.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path).expanduser()
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise KeyUnusable(f"{target} exists: refusing to overwrite a key")
    if not path.parent.is_dir():  # the README's own `ledger keygen ~/.ledger/key`: a folder for keys, its owner's only
        try:
            path.parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise KeyUnusable(f"cannot create the folder {path.parent} for the key: {exc.strerror}") from None
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, public_path, Keyring(private.public_key(), private, str(path)).key_id

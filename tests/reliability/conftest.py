"""What the reliability tests share: a sealing key, and the ledger opened as a new process would open it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import Ledger
from tests.conftest import fixed_clock


@pytest.fixture
def key(tmp_path) -> tuple[Path, Path]:
    """A new Ed25519 key: (private key file, public key file)."""
    private, public, _ = Ledger.generate_key(tmp_path / "ledger.key")
    return private, public


def opened(url: str, key: Path | None = None) -> Ledger:
    """The ledger at ``url`` as a new process opens it (the clock pinned, the key if any), its schema at head."""
    ledger = Ledger.open(url, clock=fixed_clock, key=key)
    ledger.init()
    return ledger

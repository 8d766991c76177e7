"""Released rule maths is pinned: every released version answers its fixed inputs exactly as when it was released.

Shared maths (``rules/flat.py``, ``walk.py``, ``tiers.py``, ...) is edited
over time; an edit that changes what a released version decides, bounds or
explains must fail here, not surface in an audit of history. The golden
vectors are ``tests/golden/VERSION.json`` (``tests.support.golden``).
"""

from __future__ import annotations

import json

import pytest

from rules import registry
from tests.support.golden import PARAMS, outputs, path_of


def test_every_registered_version_has_golden_vectors_and_inputs():
    """A version is released with its vectors: registering one without them fails."""
    missing = [name for name in registry.names() if not path_of(name).exists() or name not in PARAMS]
    assert not missing, f"no golden vectors (python -m tests.support.golden NAME): {missing}"


@pytest.mark.parametrize("version", registry.names())
def test_a_released_version_decides_bounds_and_explains_as_when_it_was_released(version):
    """Every released rule version decides, bounds and explains its golden inputs exactly as its stored vectors record."""
    stored = json.loads(path_of(version).read_text(encoding="utf-8"))
    now = outputs(version)
    assert len(now) == len(stored)
    for number, (was, is_now) in enumerate(zip(stored, now, strict=True)):
        assert is_now == was, f"{version}, case {number} ({was['account']}, cash {was['cash']}, marks {was['marks']})"

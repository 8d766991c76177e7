"""``whatif`` with several versions: one pass over the log, one world per version, the figures side by side."""

from __future__ import annotations

import json

import pytest

from ledger import Ledger
from ledger.compliance.whatif import SIDE_BY_SIDE
from rules import registry
from tests.conftest import ROOT
from tests.support.cli import run

PARAMS = ROOT / "examples" / "params"


@pytest.fixture
def sample(ledger, crash_history) -> Ledger:
    """The demo's crash history (both markets, partial-v1 in force), on each backend."""
    ledger.ingest_file(crash_history)
    return ledger


def test_several_versions_are_compared_side_by_side_and_each_equals_its_own_whatif(sample):
    """``whatif`` with several versions gives each version's figures side by side, each equal to that version's own ``whatif``.
    The actual cumulative notional curve runs in time order, never falls, and ends at the actual notional liquidated."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    others = [name for name in registry.names() if name != sample.state().rules.version]  # every one but the one in force
    args = ["whatif", "--format", "json"]
    for version in others:
        args += ["--rules", version, "--params", str(PARAMS / f"{version}.json")]
    code, out, err = run(url, *args)
    assert code == 0, err
    data = json.loads(out)
    assert len(others) >= 2 and data["versions"] == others
    for version in data["versions"]:
        _, single_out, _ = run(url, "whatif", "--rules", version, "--params", str(PARAMS / f"{version}.json"), "--format", "json")
        single = json.loads(single_out)
        for asset, figures in data["summary"].items():
            assert set(figures) == set(SIDE_BY_SIDE)
            for metric in SIDE_BY_SIDE:
                assert figures[metric]["actual"] == single["summary"][asset][metric]["actual"]
                assert figures[metric][version] == single["summary"][asset][metric]["alternative"], (version, metric)
    from decimal import Decimal

    curve = data["cumulative_notional"]["actual"]
    times, totals = [at for at, _, _ in curve], [Decimal(total) for _, _, total in curve]
    assert curve and times == sorted(times) and totals == sorted(totals)
    assert curve[-1][2] == data["summary"]["USD"]["notional_liquidated"]["actual"]


def test_params_must_pair_with_versions(sample):
    """``whatif`` with several versions takes one ``--params`` per version or none; any other count is a usage error."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, _, err = run(url, "whatif", "--rules", "full-v1", "--rules", "tiered-v1", "--params", str(PARAMS / "full-v1.json"))
    assert code == 2 and "one --params per version (2), or none: got 1" in err


def test_the_same_version_twice_gets_its_own_column(sample):
    """The same version asked twice gets a column of its own, the second named with ``#2``."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, out, _ = run(url, "whatif", "--rules", "full-v1", "--rules", "full-v1", "--format", "csv")
    header = out.splitlines()[0]
    assert code == 0 and header == "asset,metric,actual,full-v1,full-v1#2"

"""``docs/rules.md`` says what each version does with its params and its explanation: held to the code here, so that
the page stays true as versions are added (a registered version missing from either table fails too)."""

from __future__ import annotations

import re

import pytest

from rules import registry
from rules.flat import FlatRateModel
from tests.conftest import ROOT
from tests.support.golden import PARAMS

RULES_DOC = ROOT / "docs" / "rules.md"


def table_after(heading: str) -> dict[str, list[str]]:
    """The first table under ``heading``: the cells of each row, keyed by its first cell's backticked name."""
    text = RULES_DOC.read_text()
    section = text[text.index(heading):]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and (name := re.fullmatch(r"`([a-z0-9-]+)`", cells[0])):
            rows[name.group(1)] = cells[1:]
    return rows


@pytest.mark.parametrize("version", registry.names())
def test_the_docs_name_the_type_each_version_parses_its_params_into(version):
    """The params table names, for every registered version, the class its ``parse_params`` returns."""
    rows = table_after("## How a version keeps its own parsed params")
    assert version in rows, f"docs/rules.md does not say how {version} keeps its params"
    named = re.search(r"`([\w.]+)`", rows[version][0]).group(1).rsplit(".", 1)[-1]
    rule = registry.get(version)
    assert {type(rule.parse_params(params)).__name__ for params in PARAMS[version]} == {named}


@pytest.mark.parametrize("version", registry.names())
def test_the_docs_say_which_versions_explain_themselves(version):
    """The explain table says "inherited" exactly for the versions that keep ``FlatRateModel``'s partial formula."""
    rows = table_after("## When a version overrides `explain`")
    assert version in rows, f"docs/rules.md does not say whether {version} overrides explain"
    inherited = getattr(type(registry.get(version)), "explain", None) is FlatRateModel.explain
    assert rows[version][0].startswith("inherited") == inherited, rows[version][0]

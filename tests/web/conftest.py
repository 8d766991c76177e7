"""Fixtures of the console's tests: the crash ledger on each backend, and the headless browser."""

from __future__ import annotations

import os

import pytest

from tests.support.console import crash_ledger


@pytest.fixture
def crash(db_url, tmp_path) -> str:
    """The main job's crash history in a fresh ledger on each backend; its URL."""
    return crash_ledger(db_url, tmp_path)


@pytest.fixture(scope="session")
def browser() -> str:
    """Headless Chromium (``LEDGER_TEST_BROWSER``), as the report's browser tests use it."""
    found = os.environ.get("LEDGER_TEST_BROWSER") or None
    if found is None:
        if os.environ.get("LEDGER_TEST_REQUIRE_BROWSER"):
            pytest.fail("LEDGER_TEST_REQUIRE_BROWSER is set but no browser was found (scripts/browser.sh installs one)")
        pytest.skip("no headless browser (set LEDGER_TEST_BROWSER; scripts/test.sh installs Chromium)")
    return found

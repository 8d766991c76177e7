"""The dependency rules of the house, checked mechanically (import-linter).

Contracts live in ``pyproject.toml``: rules never reach storage or the shell,
the ledger never imports a rule version, versions never import each other,
the domain core imports no storage, rules or shell.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_only_the_clock_module_reads_the_wall_clock():
    offenders = []
    for path in list((ROOT / "ledger").rglob("*.py")) + list((ROOT / "rules").rglob("*.py")):
        source = path.read_text()
        if any(call in source for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today(")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == ["ledger/services/clock.py"]


def test_no_float_touches_the_ledger_or_the_rules():
    offenders = [
        str(path.relative_to(ROOT))
        for path in list((ROOT / "ledger").rglob("*.py")) + list((ROOT / "rules").rglob("*.py"))
        if re.search(r"\bfloat\(", path.read_text())
    ]
    assert offenders == []

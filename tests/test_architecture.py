"""The dependency rules of the house, checked mechanically (import-linter).

Contracts live in ``pyproject.toml``: the layers (cli > app > compliance |
reports > replay > engine > store | rules > domain), the engine never reaching
storage, the CLI talking to the facade only, rules never reaching storage or
the shell, the ledger never importing a rule version, versions never
importing each other, the domain core importing no storage, rules or shell.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 7 kept, 0 broken." in done.stdout


def test_importing_the_core_or_the_rules_loads_no_storage():
    """``ledger/__init__`` is lazy: the domain and the rules load without SQLAlchemy, the store or the facade."""
    probe = (
        "import sys, rules.margin, ledger.domain.fold\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg')"
        " or m.startswith(('ledger.store', 'ledger.app', 'ledger.replay', 'ledger.engine')))\n"
        "print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_the_facade_is_still_reachable_from_the_package():
    probe = "import ledger, sys; print(ledger.Ledger.__module__, 'sqlalchemy' in sys.modules, ledger.InvalidBatch.__name__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["ledger.app.ledger", "True", "InvalidBatch"]


def test_only_the_clock_module_reads_the_wall_clock():
    offenders = []
    for path in list((ROOT / "ledger").rglob("*.py")) + list((ROOT / "rules").rglob("*.py")):
        source = path.read_text()
        if any(call in source for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today(")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == ["ledger/app/clock.py"]


def test_no_float_touches_the_ledger_or_the_rules():
    offenders = [
        str(path.relative_to(ROOT))
        for path in list((ROOT / "ledger").rglob("*.py")) + list((ROOT / "rules").rglob("*.py"))
        if re.search(r"\bfloat\(", path.read_text())
    ]
    assert offenders == []


def test_ruff_is_clean():
    """The lint configuration in ``pyproject.toml`` (a broad selection, each ignore justified there) finds nothing."""
    done = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "--no-cache", "."],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_core_and_the_rules_type_check_strictly():
    """mypy --strict on ``ledger/domain``, ``rules`` and the errors (``[tool.mypy]`` in ``pyproject.toml``)."""
    done = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ledger_names_no_rule_version():
    """A new version touches rules/, one registry line, its tests and docs: nothing in ledger/ names one."""
    from rules import registry

    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "ledger").rglob("*.py")
        for name in registry.names()
        if name in path.read_text()
    ]
    assert offenders == []


def test_rules_list_shows_every_parameter_each_version_declares(tmp_path):
    from rules import registry

    url = f"sqlite:///{tmp_path / 'l.db'}"
    subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True, cwd=ROOT)
    done = subprocess.run([sys.executable, "-m", "ledger", "--db", url, "rules", "list", "--format", "json"],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    import json

    listed = {v["version"]: [p["name"] for p in v["parameters"]] for v in json.loads(done.stdout)["versions"]}
    assert listed == {name: [p.name for p in rule.parameters] for name, rule in registry.REGISTRY.items()}
    assert all(listed.values())

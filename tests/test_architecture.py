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
    """Every import contract in ``pyproject.toml`` (the layering rules) is kept, as import-linter checks them."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    from tomllib import loads

    contracts = loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout


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


def test_the_command_line_loads_no_columnar_or_cluster_library_until_a_command_needs_it():
    """``ledger account`` answers in tens of milliseconds; importing pyarrow and numpy (the sweep's shipped rows, the
    charts) or Dask before it would cost more than the command. Only the commands that use them load them."""
    probe = (
        "import sys, ledger.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'numpy', 'dask', 'distributed')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_the_facade_is_still_reachable_from_the_package():
    """The facade (``ledger.Ledger``) and the public errors stay reachable from the package itself."""
    probe = "import ledger, sys; print(ledger.Ledger.__module__, 'sqlalchemy' in sys.modules, ledger.InvalidBatch.__name__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["ledger.app.ledger", "True", "InvalidBatch"]


def test_only_the_clock_module_reads_the_wall_clock():
    """Only ``ledger/app/clock.py`` reads the wall clock; no other module of the ledger or the rules does."""
    offenders = []
    for path in list((ROOT / "ledger").rglob("*.py")) + list((ROOT / "rules").rglob("*.py")):
        source = path.read_text()
        if any(call in source for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today(")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == ["ledger/app/clock.py"]


def test_no_float_touches_the_ledger_or_the_rules():
    """No module of the ledger or the rules converts anything to a float."""
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


def test_the_whole_package_type_checks_strictly():
    """mypy --strict on every module of ``ledger`` and ``rules`` (``[tool.mypy]`` in ``pyproject.toml``), and every
    ``type: ignore`` names its error code and gives a one-line reason after it."""
    from tomllib import loads

    config = loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True and sorted(config["files"]) == ["ledger", "rules"]
    assert all("follow_imports" not in o and "ignore_errors" not in o for o in config.get("overrides", [])), config
    done = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    unexplained = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("ledger", "rules")
        for path in (ROOT / package).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line and not re.search(r"type: ignore\[[a-z-, ]+\]  # \S", line)
    ]
    assert not unexplained, f"a type: ignore without its code and a reason: {unexplained}"


def test_the_ledger_names_no_rule_version():
    """A new version (or loss-allocation policy) touches rules/, one registry line, its tests and docs: nothing in
    ledger/ names one."""
    from rules import registry
    from rules.allocation import registry as policies

    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "ledger").rglob("*.py")
        for name in [*registry.names(), *policies.names()]
        if name in path.read_text()
    ]
    assert offenders == []


def test_rules_list_shows_every_parameter_each_version_declares(tmp_path):
    """``rules list`` shows, for every registered version, every parameter it declares, in the declared order."""
    from rules import registry

    url = f"sqlite:///{tmp_path / 'l.db'}"
    subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True, cwd=ROOT)
    done = subprocess.run([sys.executable, "-m", "ledger", "--db", url, "rules", "list", "--format", "json"],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    import json

    listed = {v["version"]: [p["name"] for p in v["parameters"]] for v in json.loads(done.stdout)["versions"]}
    assert listed == {name: [p.name for p in rule.parameters] for name, rule in registry.REGISTRY.items()}
    assert all(listed.values())


LONG_FUNCTION_LINES = 70
"""TigerBeetle's rule of thumb: a function a reader holds in one view. Longer ones are listed below, never added to."""
LONG_FUNCTIONS = {
    "ledger/replay/fast_fold.py:_folders": 79,  # the four everyday folders as closures over one working set: the hot loop
}


def test_functions_stay_short_and_the_exceptions_only_shrink():
    """No function in ledger/, rules/, tests/ or bench/ is longer than 70 lines but the listed ones, each no longer
    than listed (a ratchet: shorten one and lower its line here)."""
    import ast

    found = {}
    for package in ("ledger", "rules", "tests", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > LONG_FUNCTION_LINES:
                        found[f"{path.relative_to(ROOT)}:{node.name}"] = length
    grown = {name: lines for name, lines in found.items() if lines > LONG_FUNCTIONS.get(name, LONG_FUNCTION_LINES)}
    assert not grown, f"longer than {LONG_FUNCTION_LINES} lines (or than listed): {grown}"
    stale = {name: lines for name, lines in LONG_FUNCTIONS.items() if found.get(name) != lines}
    assert not stale, f"listed but now shorter or gone: lower or drop them: {stale}"


def test_no_test_module_imports_another():
    """Tests share through ``tests.support`` (and ``tests.conftest``'s fixtures), never by importing a test module:
    each module reads as the specification of one thing."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")]
    assert not offenders, offenders


def test_every_test_says_the_rule_it_checks():
    """Every test function carries a docstring whose first line states the rule it checks: the suite reads as the
    specification."""
    import ast

    bare = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
        and not (ast.get_docstring(node) or "").strip()
    ]
    assert not bare, bare

"""The command line imports a command's module only when the command is looked up (``ledger.cli.on_demand``).

Every command is a process a person waits for; the daily ones (``ingest``,
``account``, ``balances``, ``liquidations``...) must not load the what-if,
the sweep, the audit or the web console. These tests hold the command table
true to the modules it names, every command reachable, and the daily
commands' processes free of the compliance runs.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types

import click
import pytest
from click.testing import CliRunner

from ledger.cli import COMMAND_MODULES, cli
from ledger.cli.on_demand import OnDemandGroup
from tests.conftest import ROOT

SAMPLE = ROOT / "examples" / "sample-history.jsonl"

FORBIDDEN = ("ledger.compliance", "ledger.web", "ledger.cli.compliance_commands", "ledger.cli.serve_command",
             "ledger.app.params_files", "ledger.app.compliance_views", "ledger.app.console", "starlette", "jinja2",
             "matplotlib")
"""What a daily command's process must not load: the compliance runs and their shapers, the web console, the charts."""

_DAILY_RUN = """
import contextlib, io, json, sys
from ledger.cli import main
url, sample, folder = sys.argv[1:4]
forbidden = tuple(json.loads(sys.argv[4]))
key, statement = f"{folder}/key", f"{folder}/statement.csv"
commands = [
    ["init"], ["ingest", sample], ["account", "alice"], ["account", "alice", "--as-of", "2024-08-05T00:05:00Z"],
    ["balances"], ["balances", "--format", "csv"], ["liquidations"], ["bankruptcies"], ["deleverages"], ["verify"],
    ["rules", "list"], ["anchor"], ["keygen", key], ["--key", key, "seal"], ["history", "alice"],
    ["reconcile", statement, "--include-system"], ["export", "--format", "csv", "--out", f"{folder}/export"],
]
loaded = {}
for command in commands:
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        try:
            main(["--db", url, *command])
        except SystemExit as exc:
            assert not exc.code, (command, exc.code)
    if command == ["balances", "--format", "csv"]:
        open(statement, "w").write(printed.getvalue())  # what reconcile reads back
    name = command[0] if command[0] != "--key" else command[2]
    loaded[name] = sorted(m for m in sys.modules if m.startswith(forbidden))
print(json.dumps(loaded))
"""


def test_the_table_names_exactly_the_commands_each_module_defines():
    """Each module's ``COMMANDS`` are the names the table gives it, in its order: none missing, none invented."""
    for module, names in COMMAND_MODULES.items():
        defined = tuple(command.name for command in importlib.import_module(module).COMMANDS)
        assert defined == names, module


def test_every_command_is_listed_and_runs_its_own_help():
    """``ledger --help`` lists every command of the table, and each answers ``--help`` from its own module."""
    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"])
    assert listed.exit_code == 0, listed.output
    every = sorted(name for names in COMMAND_MODULES.values() for name in names)
    section = listed.output.split("Commands:\n")[1].split("\n\n")[0]
    shown = [line.split()[0] for line in section.splitlines() if not line.startswith("   ")]
    assert sorted(shown) == every
    for name in every:
        done = runner.invoke(cli, [name, "--help"])
        assert done.exit_code == 0, (name, done.output)
        assert f"Usage: cli {name} " in done.output or f"Usage: ledger {name} " in done.output


def test_an_unknown_command_is_still_a_usage_error():
    """A name in no module is refused as before: exit 2, ``No such command``, with no suggestion when none is close."""
    done = CliRunner().invoke(cli, ["nonesuch"])
    assert done.exit_code == 2
    assert "No such command 'nonesuch'." in done.output and "Did you mean" not in done.output


@pytest.mark.parametrize(("typed", "meant"), [("acount", "account"), ("rotate_key", "rotate-key"), ("whatiff", "whatif"),
                                              ("serv", "serve")])
def test_a_mistyped_command_is_told_the_one_it_was_near(typed, meant):
    """click suggests the command a mistyped name is near, from every command, not only those whose module happened to
    be imported (each module is imported when the name is unknown)."""
    done = CliRunner().invoke(cli, [typed])
    assert done.exit_code == 2
    assert f"No such command '{typed}'. Did you mean '{meant}'?" in done.output


def test_the_daily_commands_run_without_loading_a_compliance_run_or_the_web_console(tmp_path):
    """``init``, ``ingest``, ``account`` (at the head and as of a time), ``balances``, ``liquidations``,
    ``bankruptcies``, ``deleverages``, ``verify``, ``rules list``, ``anchor``, ``keygen``, ``seal``, and
    back-office's ``history``, ``reconcile`` (of the balances just printed) and ``export``, each run through the entry
    point on a real SQLite ledger in one process, one after another: after each, none of the compliance runs, their
    shapers, the web console or the charts is loaded (what the command's own module, the facade method it calls or
    the group itself imports would show here)."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = subprocess.run([sys.executable, "-c", _DAILY_RUN, url, str(SAMPLE), str(tmp_path),
                           json.dumps(FORBIDDEN)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert set(loaded) == {"init", "ingest", "account", "balances", "liquidations", "bankruptcies", "deleverages",
                           "verify", "rules", "anchor", "keygen", "seal", "history", "reconcile", "export"}
    assert {command: modules for command, modules in loaded.items() if modules} == {}


def test_a_compliance_command_loads_its_run_when_it_is_looked_up():
    """The other side: ``whatif`` loads the compliance commands' module, which the daily commands leave alone."""
    probe = (
        "import sys\n"
        "from ledger.cli import cli\n"
        "before = 'ledger.cli.compliance_commands' in sys.modules\n"
        "cli.get_command(None, 'whatif')\n"
        "print(before, 'ledger.cli.compliance_commands' in sys.modules, 'ledger.compliance.sweep' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def _group_with(table: dict[str, tuple[str, ...]]) -> OnDemandGroup:
    """A group over ``table``, whose modules the caller has put in ``sys.modules``."""
    group = OnDemandGroup(name="probe")
    group.add_modules(table)
    return group


def test_a_module_defining_a_command_the_table_does_not_give_it_fails_loudly(monkeypatch):
    """A module whose ``COMMANDS`` hold a name the table gives elsewhere (or not at all) is a mistake in the table:
    looking the command up raises, naming the module and the command, rather than running something else."""
    module = types.ModuleType("probe_commands")
    module.COMMANDS = (click.Command("first"), click.Command("unlisted"))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "probe_commands", module)
    group = _group_with({"probe_commands": ("first",)})
    with pytest.raises(RuntimeError, match="probe_commands defines 'unlisted'"):
        group.get_command(click.Context(group), "first")


def test_a_command_named_twice_in_the_table_is_refused():
    """Two modules claiming one name would make which one runs depend on the order of lookups: refused at once."""
    group = _group_with({"probe_commands": ("first",)})
    with pytest.raises(ValueError, match="'first' is named twice"):
        group.add_modules({"other_commands": ("first",)})


def test_a_listed_name_its_module_does_not_define_is_no_command(monkeypatch):
    """A name the table gives a module that does not define it is not run as anything: click's ``No such command``."""
    module = types.ModuleType("probe_commands")
    module.COMMANDS = (click.Command("first"),)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "probe_commands", module)
    group = _group_with({"probe_commands": ("first", "second")})
    assert group.get_command(click.Context(group), "second") is None
    assert group.get_command(click.Context(group), "first") is module.COMMANDS[0]  # type: ignore[attr-defined]

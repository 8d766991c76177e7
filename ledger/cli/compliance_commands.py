"""Commands for compliance and risk: audit, explain, whatif, sweep, report (back-office's history, reconcile and export:
``cli.backoffice_commands``). Each prints data as table, JSON or CSV where it prints data, and shows a progress bar
while it replays a long history."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from ledger.app.compliance_views import (
    LOSS_COLUMNS,
    MAX_CANDIDATES,
    PAYER_COLUMNS,
    SWEEP_FIGURES,
    account_table_rows,
    loss_allocation_rows,
    payer_rows,
    render_explanation,
    summary_table_rows,
    sweep_table_rows,
)
from ledger.app.ledger import Ledger
from ledger.cli.app import (
    FORMATS,
    TIME,
    Time,
    check_window,
    figures_for,
    open_ledger,
    print_json,
    print_rows,
    progress,
    safe_csv_option,
)
from ledger.cli.progress import counted_progress

if TYPE_CHECKING:
    from ledger.app.ledger import WhatIf

@click.command()
@click.option("--exhaustive", is_flag=True, help="Re-decide every exposed account at every mark (O(accounts) per mark).")
@click.option("--parts", type=click.IntRange(min=1), default=None,
              help="Audit a long log in this many parts side by side, one process each, with the same checks and the "
                   "same report [default: one per core, at most 8 (each part holds a state); 1: one pass].")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def audit(ctx: click.Context, exhaustive: bool, parts: int | None, fmt: str) -> None:
    """Replay everything from scratch and prove it; exit 1 naming each discrepancy."""
    with open_ledger(ctx) as ledger:
        with progress("auditing", ledger.head_seq()) as advance:
            report = ledger.audit(exhaustive=exhaustive, progress=advance, parts=parts)
    rows = [attrs.asdict(d) for d in report.discrepancies]
    summary = {k: v for k, v in attrs.asdict(report).items() if k != "discrepancies"}
    if fmt == "json":
        print_json({"ok": report.ok, **summary, "discrepancies": rows})
    elif fmt == "csv":
        print_rows(rows, "csv", "", ["kind", "seq", "event_id", "detail"])
    else:
        how = " (exhaustive: every exposed account re-decided at every mark)" if report.exhaustive else ""
        click.echo(
            f"{'OK' if report.ok else 'FAILED'}{how}: {report.events_checked} events replayed, "
            f"{report.marks_rederived} marks re-decided, {report.liquidations_checked} liquidations checked "
            f"({report.decisions_checked} decisions of the engine re-derived in all), "
            f"{report.snapshots_checked} snapshots compared; chain head {report.head_hash}"
        )
        if rows:
            print_rows(rows, "table", "Discrepancies", ["kind", "seq", "event_id", "detail"])
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("event_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def explain(ctx: click.Context, event_id: str, fmt: str) -> None:
    """Why the engine made a liquidation or bankruptcy: the numbers and the formula."""
    with open_ledger(ctx) as ledger:
        info = ledger.explain(event_id)
        figures = figures_for(ctx, ledger, "table" if fmt == "text" else fmt)
    click.echo(json.dumps(info, indent=2) if fmt == "json" else render_explanation(info, figures))


def _comparison(ledger: Ledger, version: str | None, params: str | None, start: Time, end: Time,
                policy: tuple[str, str | None] | None = None) -> WhatIf:
    with progress("replaying twice", ledger.head_seq()) as advance:
        return ledger.whatif(version, params_file=params, start=start, end=end, progress=advance, policy=policy)


def _policies(versions: tuple[str, ...], policies: tuple[str, ...], files: tuple[str, ...]
              ) -> list[tuple[str, str | None] | None]:
    """One loss-allocation policy per --rules (in order), one for all, or none (the one in force); --loss-params
    paired with --loss-allocation in order, or none at all."""
    if files and len(files) != len(policies):
        raise click.UsageError(f"give one --loss-params per --loss-allocation ({len(policies)}), or none: got {len(files)}")
    chosen = list(zip(policies, files or [None] * len(policies), strict=True))
    if not chosen:
        return [None] * len(versions)
    if len(chosen) == 1:
        return [chosen[0]] * len(versions)
    if len(chosen) != len(versions):
        raise click.UsageError(f"give one --loss-allocation per --rules ({len(versions)}), one for all, or none: "
                               f"got {len(chosen)}")
    return list(chosen)


def _worlds(versions: tuple[str, ...], params: tuple[str, ...], policies: tuple[str, ...], files: tuple[str, ...]
            ) -> tuple[list[tuple[str | None, str | None]], list[tuple[str, str | None] | None]]:
    """The what-if's worlds: each --rules (with its --params and policy), or, without --rules, each --loss-allocation
    under the rules in force."""
    if versions:
        return list(_pairs(versions, params)), _policies(versions, policies, files)
    if not policies:
        raise click.UsageError("give --rules VERSION (repeatable), or --loss-allocation POLICY to compare policies "
                               "under the rules in force")
    if params:
        raise click.UsageError("--params goes with --rules: without --rules every world keeps the rules in force")
    chosen = _policies(policies, policies, files)
    return [(None, None)] * len(chosen), chosen


def _pairs(versions: tuple[str, ...], params: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """Versions and --params paired in order: one params file per version, or none at all (the params in force)."""
    if params and len(params) != len(versions):
        raise click.UsageError(f"give one --params per version ({len(versions)}), or none: got {len(params)}")
    return list(zip(versions, params or [None] * len(versions), strict=True))


def _side_by_side(ctx: click.Context, pairs: list[tuple[str | None, str | None]], start: Time, end: Time, fmt: str,
                  policies: list[tuple[str, str | None] | None]) -> None:
    """Several versions on the same history: the figures side by side, and each account's final equity."""
    with open_ledger(ctx) as ledger, progress(f"replaying {len(pairs) + 1} worlds", ledger.head_seq()) as advance:
        data = ledger.compare(pairs, start=start, end=end, progress=advance, policies=policies).to_json()
        figures = figures_for(ctx, ledger, fmt)
    if fmt == "json":
        print_json(data)
        return
    worlds = ["actual", *data["versions"]]
    print_rows(summary_table_rows(data, figures), fmt, f"What-if: {', '.join(data['actual_versions']) or 'no liquidations'} "
               f"(actual) vs {', '.join(data['versions'])}", ["asset", "metric", *worlds])
    if "loss_allocation" in data:
        print_rows(loss_allocation_rows(data, figures), fmt, "Loss allocation: how each world paid its bankruptcies",
                   LOSS_COLUMNS)
        if fmt == "table" and any(world["paid_by"] for world in data["loss_allocation"].values()):
            print_rows(payer_rows(data, figures, most=10), fmt, "Who paid: the largest haircuts of each world (at most 10)",
                       PAYER_COLUMNS)
    if fmt == "table":
        print_rows(account_table_rows(data, figures), fmt, "Final equity per account",
                   ["account", *(f"equity_{w}" for w in worlds)])
        for label, refused in data["refused"].items():
            for item in refused:
                click.echo(f"refused under {label}: {item['event']} (#{item['seq']}): {item['reason']}")


@click.command()
@click.option("--rules", "versions", multiple=True,
              help="The rule version to substitute; repeat it to compare several side by side. Without it, each "
                   "--loss-allocation is a world of its own under the rules in force.")
@click.option("--params", "params", multiple=True, type=click.Path(dir_okay=False),
              help="JSON file of params (default: those in force); one per --rules, in order.")
@click.option("--loss-allocation", "policies", multiple=True, metavar="POLICY",
              help="The loss-allocation policy each world allocates with (default: the one in force); one per --rules, "
                   "or one for all.")
@click.option("--loss-params", "policy_params", multiple=True, type=click.Path(dir_okay=False),
              help="JSON file of a policy's params; one per --loss-allocation, in order.")
@click.option("--from", "start", type=TIME, help="Substitute from this business time on.")
@click.option("--to", "end", type=TIME, help="Compare up to this business time.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def whatif(ctx: click.Context, versions: tuple[str, ...], params: tuple[str, ...], policies: tuple[str, ...],
           policy_params: tuple[str, ...], start: Time, end: Time, fmt: str) -> None:
    """Replay history under other rule versions and loss-allocation policies (nothing written) and compare with what
    happened."""
    check_window(start, end)
    pairs, chosen = _worlds(versions, params, policies, policy_params)
    if len(pairs) > 1:
        _side_by_side(ctx, pairs, start, end, fmt, chosen)
        return
    version, params_file = pairs[0]
    with open_ledger(ctx) as ledger:
        data = _comparison(ledger, version, params_file, start, end, chosen[0]).to_json()
        figures = figures_for(ctx, ledger, fmt)
    if fmt == "json":
        print_json(data)
        return
    title = f"What-if: {', '.join(data['actual_versions']) or 'no liquidations'} (actual) vs {data['alternative_version']}"
    print_rows(summary_table_rows(data, figures), fmt, title, ["asset", "metric", "actual", "alternative", "difference"])
    if "loss_allocation" in data:
        print_rows(loss_allocation_rows(data, figures), fmt, "Loss allocation: what each world deleveraged", LOSS_COLUMNS)
    if fmt == "table":
        print_rows(account_table_rows(data, figures), fmt, "Per account",
                   list(data["accounts"][0]) if data["accounts"] else ["account"],
                   essential=["account", "liquidations", "equity_actual", "equity_alternative"])
        for refused in data["refused_in_alternative"]:
            click.echo(f"refused in the alternative: {refused['event']} (#{refused['seq']}): {refused['reason']}")


@click.command()
@click.option("--rules", "versions", required=True, multiple=True, help="The rule version to sweep; repeat for several.")
@click.option("--grid", "grid_file", required=True, type=click.Path(dir_okay=False),
              help='JSON: {"params": {...base, default those in force}, "grid": {"PARAM.PATH": ["v1", "v2"], ...}}.')
@click.option("--loss-allocation", "policies", multiple=True, metavar="POLICY",
              help="Also vary the loss-allocation policy: every candidate under each one given (repeatable).")
@click.option("--loss-params", "policy_params", multiple=True, type=click.Path(dir_okay=False),
              help="JSON file of a policy's params; one per --loss-allocation, in order.")
@click.option("--from", "start", type=TIME, help="Substitute from this business time on.")
@click.option("--to", "end", type=TIME, help="Replay up to this business time.")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes (default: one per core; 1: serial).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on this Dask cluster (tcp://HOST:8786) instead of locally.")
@click.option("--max-candidates", type=click.IntRange(min=1), default=MAX_CANDIDATES, show_default=True,
              help="Refuse a grid of more candidates than this (exit 2) before anything runs.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@safe_csv_option
@click.pass_context
def sweep(ctx: click.Context, versions: tuple[str, ...], grid_file: str, policies: tuple[str, ...],
          policy_params: tuple[str, ...], start: Time, end: Time, workers: int | None, scheduler: str | None,
          max_candidates: int, fmt: str) -> None:
    """Replay the history under every candidate of a grid of params (and versions, and loss-allocation policies); one
    row per candidate, nothing written."""
    check_window(start, end)
    if policy_params and len(policy_params) != len(policies):
        raise click.UsageError(f"give one --loss-params per --loss-allocation ({len(policies)}), or none: "
                               f"got {len(policy_params)}")
    chosen = list(zip(policies, policy_params or [None] * len(policies), strict=True))
    with open_ledger(ctx) as ledger:
        with counted_progress("sweep", "candidates") as advance:
            candidates, rows = ledger.sweep(versions, grid_file, start=start, end=end, workers=workers,
                                            scheduler=scheduler, progress=advance, policies=chosen,
                                            max_candidates=max_candidates, planned=advance.total)
        figures = figures_for(ctx, ledger, fmt)
    if fmt == "json":
        print_json(rows)
        return
    varied = list(candidates[0].varied) if candidates else []
    extra = ["adl_fills", "adl_notional", "accounts_hit"] if any(c.policy is not None for c in candidates) else []
    columns = ["candidate", "version", *varied, "asset", *SWEEP_FIGURES, *extra, "refused_events"]
    print_rows(sweep_table_rows(rows, figures), fmt, f"Sweep: {len(candidates)} candidates", columns,
               essential=["candidate", "version", *varied, "asset", "liquidations", "penalties", "socialized_loss"])


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="report", show_default=True)
@click.option("--whatif", "versions", multiple=True,
              help="Add a what-if section against this rule version; repeat it to chart several side by side.")
@click.option("--params", "params", multiple=True, type=click.Path(dir_okay=False),
              help="JSON params for the what-if version; one per --whatif, in order.")
@click.option("--sweep", "sweep_file", type=click.Path(dir_okay=False, exists=True),
              help="Add a heatmap per figure of a sweep's rows (`ledger sweep --format json > FILE`).")
@click.option("--loss-allocation", "policies", multiple=True, metavar="POLICY",
              help="Add a section with these loss-allocation policies side by side (repeatable), each replaying the "
                   "history under the rules in force.")
@click.option("--loss-params", "policy_params", multiple=True, type=click.Path(dir_okay=False),
              help="JSON file of a policy's params; one per --loss-allocation, in order.")
@click.pass_context
def report(ctx: click.Context, out: str, versions: tuple[str, ...], params: tuple[str, ...],
           sweep_file: str | None, policies: tuple[str, ...], policy_params: tuple[str, ...]) -> None:
    """Write an HTML report with charts for compliance (and optionally a what-if, or several versions side by side,
    loss-allocation policies side by side, a sweep's heatmaps)."""
    pairs = _pairs(versions, params)
    chosen = _policies(policies, policies, policy_params) if policies else []
    sweep_rows = _sweep_rows(sweep_file) if sweep_file is not None else None
    with open_ledger(ctx) as ledger:
        comparison: Any = None
        if len(pairs) > 1:
            with progress(f"replaying {len(pairs) + 1} worlds", ledger.head_seq()) as advance:
                comparison = ledger.compare(pairs, progress=advance)
        elif pairs:
            comparison = _comparison(ledger, pairs[0][0], pairs[0][1], None, None)
        allocation = None
        if chosen:
            with progress(f"replaying {len(chosen) + 1} worlds", ledger.head_seq()) as advance:
                allocation = ledger.compare([(None, None)] * len(chosen), progress=advance, policies=chosen)
        compared = [f"rule version {version} with params {path or 'in force'}" for version, path in pairs]
        compared += [f"loss-allocation policy {policy} with params {path or 'none'}, under the rules in force"
                     for policy, path in (c for c in chosen if c is not None)]
        compared += [f"sweep rows {sweep_file}"] if sweep_file is not None else []
        with progress("charting", ledger.head_seq()) as advance:
            index = ledger.report(Path(out), comparison=comparison, progress=advance, scales=ctx.obj["scales"],
                                  sweep_rows=sweep_rows, allocation=allocation, compared=compared)
    click.echo(f"report written to {index}")


def _sweep_rows(path: str) -> list[dict[str, Any]]:
    """A sweep's JSON rows, or a usage error naming the file."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{path}: not a sweep's JSON (`ledger sweep --format json`): {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"candidate", "version", "asset"} <= set(r)
                                             for r in rows):
        raise click.UsageError(f"{path}: not a sweep's JSON (`ledger sweep --format json`): expected a list of rows")
    return rows


COMMANDS = (audit, explain, whatif, sweep, report)

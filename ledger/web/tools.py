"""The console's tools: reconcile a statement, run a what-if, log in. They read the ledger and never write to it.

**Reconcile** takes a statement CSV (cash ``account,asset,balance`` or
positions ``account,market,size``) as an upload of at most the console's
limit (5 MiB by default; a larger one, or one whose size is not declared, is
refused before it is read), with the CLI's options (tolerance, system
balances, encoding, delimiter), and compares it with the ledger at the page's
point. A statement the reader refuses gets the CLI's message, naming the
uploaded file's name and line; the result keeps a URL while the console runs
(its JSON is ``ledger reconcile --format json``'s).

**What-if** sets up to ``MAX_WORLDS`` worlds beside what happened (a rule
version with params, a loss-allocation policy with params; empty fields keep
what is in force), each params JSON read and checked as ``--params FILE``
is, with the CLI's messages, before the run is queued (``jobs``).
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ledger.app.compliance_views import (
    LOSS_COLUMNS,
    account_table_rows,
    loss_allocation_rows,
    summary_table_rows,
)
from ledger.app.console import NotFound, Point, check_worlds
from ledger.app.ledger import Ledger
from ledger.domain.money import parse_decimal
from ledger.domain.timefmt import format_time, parse_time
from ledger.errors import InvalidBatch, InvalidEvent, LedgerError
from ledger.web import charts
from ledger.web.charts import Line
from ledger.web.context import Console, console_of
from ledger.web.jobs import Job, QueueFull
from ledger.web.security import COOKIE, session_value
from ledger.web.shown import csv_download, json_download
from ledger.web.views import BadRequest, View, parse_when

__all__ = ["ROUTES", "MAX_WORLDS"]

MAX_WORLDS = 3
BREAK_COLUMNS = ["kind", "account", "asset", "ledger", "statement", "difference", "where"]
_WORLD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
_KEPT_RECONCILIATIONS = 50


def _view(request: Request, form: dict[str, str] | None = None) -> tuple[Console, View, Point]:
    console = console_of(request)
    query = {**dict(request.query_params), **{k: v for k, v in (form or {}).items() if k in ("as_of", "known_at")}}
    view = View.of(request.url.path, query)
    return console, view, console.reads.point(view.as_of, view.known_at)


def _located(message: str, folder: str) -> str:
    """A refusal as the CLI words it, naming a file by its own name rather than the folder the console kept it in."""
    return message.replace(folder + os.sep, "").replace(folder, "")


# -- reconcile ------------------------------------------------------------------------------------------------------
async def reconcile_form(request: Request) -> Response:
    console, view, point = _view(request)
    return console.page(request, "reconcile.html", {"view": view, "point": point, "title": "Reconcile", "error": None,
                                                    "fields": {}, "limit": console.upload_limit})


def _options(form: dict[str, str]) -> tuple[Decimal, bool, str, str]:
    """The CLI's options from the form, refused with the CLI's messages."""
    tolerance_text = (form.get("tolerance") or "0").strip()
    try:
        tolerance = parse_decimal(tolerance_text, "tolerance")
    except InvalidEvent as exc:
        raise BadRequest(f"--tolerance: {exc}") from None
    delimiter = form.get("delimiter") or ","
    separator = "\t" if delimiter == "tab" else delimiter
    if len(separator) != 1:
        raise BadRequest(f"--delimiter must be one character or 'tab', got {delimiter!r}")
    encoding = (form.get("encoding") or "utf-8").strip()
    try:
        "".encode(encoding)
    except LookupError:
        raise BadRequest(f"--encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, cp1252, "
                         "latin-1)") from None
    return tolerance, form.get("include_system") in ("on", "1", "true"), encoding, separator


async def reconcile_upload(request: Request) -> Response:
    console = console_of(request)
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return console.error_page(411, "An upload must declare its size (Content-Length).")
    if int(declared) > console.upload_limit + 64 * 1024:
        return console.error_page(413, f"The statement is larger than this console takes ({console.upload_limit:,} "
                                       "bytes): split it, or run `ledger reconcile` on it.")
    async with request.form(max_files=1, max_fields=20) as form:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        upload = form.get("statement")
        _, view, point = _view(request, fields)
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _reconcile_refused(request, console, view, point, fields, "choose a statement file (CSV) to upload")
        content = await upload.read(console.upload_limit + 1)
        name = PurePath(upload.filename.replace("\\", "/")).name or "statement.csv"
    if len(content) > console.upload_limit:
        return console.error_page(413, f"The statement is larger than this console takes ({console.upload_limit:,} bytes).")
    try:
        tolerance, include_system, encoding, separator = _options(fields)
        lines, breaks = await run_in_threadpool(_reconciled, console, content, name, point, tolerance, include_system,
                                                encoding, separator)
    except (BadRequest, InvalidBatch, InvalidEvent) as exc:
        return _reconcile_refused(request, console, view, point, fields, str(exc))
    result = {"as_of": format_time(point.as_of) if point.as_of else None, "tolerance": fields.get("tolerance") or "0",
              "breaks": breaks}
    kept = console.reconciliations
    key = secrets.token_urlsafe(12)
    kept[key] = {"json": result, "lines": lines, "name": name, "point": point, "view": view.point_query}
    while len(kept) > _KEPT_RECONCILIATIONS:
        kept.popitem(last=False)
    return RedirectResponse(view.link(f"/reconcile/{key}"), status_code=303)


def _reconciled(console: Console, content: bytes, name: str, point: Point, tolerance: Decimal, include_system: bool,
                encoding: str, separator: str) -> tuple[int, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="ledger-console-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            lines, breaks = console.reads.reconcile(path, point, tolerance=tolerance, include_system=include_system,
                                                    encoding=encoding, delimiter=separator)
            return lines, [{**b, "where": None if b["where"] is None else _located(b["where"], folder)} for b in breaks]
        except InvalidBatch as exc:
            raise InvalidBatch([InvalidEvent(_located(str(e), folder)) for e in exc.errors], exc.total,
                               writing=False) from None
        except InvalidEvent as exc:
            raise InvalidEvent(_located(str(exc), folder)) from None


def _reconcile_refused(request: Request, console: Console, view: View, point: Point, fields: dict[str, str],
                       message: str) -> Response:
    return console.page(request, "reconcile.html", {"view": view, "point": point, "title": "Reconcile",
                                                    "error": message, "fields": fields,
                                                    "limit": console.upload_limit}, status=400)


def reconcile_result(request: Request) -> Response:
    console = console_of(request)
    found = console.reconciliations.get(request.path_params["key"])
    if found is None:
        raise NotFound("no such reconciliation (results are kept while the console runs: upload the statement again)")
    view = View.of(request.url.path, dict(request.query_params))
    if view.format == "json":
        return json_download(found["json"], "reconcile")
    if view.format == "csv":
        return csv_download(BREAK_COLUMNS, found["json"]["breaks"], "reconcile-breaks", safe=view.safe)
    return console.page(request, "reconciled.html", {"view": view, "point": found["point"], "title": "Reconciliation",
                                                     "found": found, "columns": BREAK_COLUMNS})


# -- what-if --------------------------------------------------------------------------------------------------------
def whatif_form(request: Request) -> Response:
    console, view, point = _view(request)
    return _whatif_page(request, console, view, point, None, {})


def _whatif_page(request: Request, console: Console, view: View, point: Point, error: str | None,
                 fields: dict[str, str], status: int = 200) -> Response:
    rules = console.reads.rules(point)
    return console.page(request, "whatif.html", {
        "view": view, "point": point, "title": "What-if", "error": error, "fields": fields, "worlds": MAX_WORLDS,
        "versions": [v["version"] for v in rules["versions"]], "in_force": rules["in_force"],
        "policies": [p["version"] for p in rules["loss_allocation"]["policies"]],
        "policy_in_force": rules["loss_allocation"]["in_force"], "jobs": console.jobs.listed()}, status=status)


def _worlds(fields: dict[str, str]) -> list[tuple[str | None, str, str | None, str]]:
    """(version or None, params JSON, policy or None, policy params JSON) of each world the form sets."""
    worlds = []
    for n in range(1, MAX_WORLDS + 1):
        version = (fields.get(f"version_{n}") or "").strip() or None
        policy = (fields.get(f"policy_{n}") or "").strip() or None
        params, policy_params = fields.get(f"params_{n}") or "", fields.get(f"policy_params_{n}") or ""
        if version is None and policy is None:
            if params.strip() or policy_params.strip():
                raise BadRequest(f"world {n}: params without a rule version or a policy to give them to")
            continue
        if version is None and params.strip():
            raise BadRequest(f"world {n}: --params goes with --rules: choose a rule version for these params")
        if policy is None and policy_params.strip():
            raise BadRequest(f"world {n}: --loss-params goes with --loss-allocation: choose a policy for these params")
        worlds.append((version, params, policy, policy_params))
    if not worlds:
        raise BadRequest("give --rules VERSION (a rule version), or --loss-allocation POLICY to compare policies "
                         "under the rules in force, for at least one world")
    if any(w[0] is None for w in worlds) and any(w[0] is not None for w in worlds):
        raise BadRequest("either every world names a rule version, or none does (each policy then runs under the "
                         "rules in force), as `ledger whatif` takes them")
    return worlds


def _files(folder: str, worlds: list[tuple[str | None, str, str | None, str]]
           ) -> tuple[list[tuple[str | None, str | None]], list[tuple[str, str | None] | None]]:
    """Each world's params written where the facade reads them (``--params FILE``), named by the world."""
    pairs: list[tuple[str | None, str | None]] = []
    policies: list[tuple[str, str | None] | None] = []
    for n, (version, params, policy, policy_params) in enumerate(worlds, 1):
        path = None
        if params.strip():
            path = str(Path(folder) / f"world-{n}-params.json")
            Path(path).write_text(params, encoding="utf-8")
        pairs.append((version, path))
        policy_path = None
        if policy is not None and policy_params.strip():
            policy_path = str(Path(folder) / f"world-{n}-loss-params.json")
            Path(policy_path).write_text(policy_params, encoding="utf-8")
        policies.append(None if policy is None else (policy, policy_path))
    return pairs, policies


def _work(worlds: list[tuple[str | None, str, str | None, str]], start: Any, end: Any, check_only: bool = False
          ) -> Callable[[Ledger, Callable[[int], None]], dict[str, Any]]:
    def run(ledger: Ledger, progress: Callable[[int], None]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="ledger-console-") as folder:
            pairs, policies = _files(folder, worlds)
            try:
                if check_only:
                    check_worlds(pairs, policies)
                    return {}
                if len(pairs) > 1:
                    return ledger.compare(pairs, start=start, end=end, progress=progress, policies=policies).to_json()
                (version, path), policy = pairs[0], policies[0]
                return ledger.whatif(version, params_file=path, start=start, end=end, progress=progress,
                                     policy=policy).to_json()
            except InvalidEvent as exc:
                raise InvalidEvent(_located(str(exc), folder)) from None
    return run


async def whatif_submit(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=40) as form:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
    console, view, point = _view(request, fields)
    try:
        if point.known_at is not None:
            raise BadRequest("a what-if replays the log as it is up to its --to (this page's as_of); it does not take "
                             "known_at: clear it to run one")
        worlds = _worlds(fields)
        start, end = parse_when(fields.get("from"), "--from"), parse_when(fields.get("to"), "--to")
        if end is None and point.as_of is not None:
            end = point.as_of
        if start is not None and end is not None and start > end:
            raise BadRequest(f"--from {start.isoformat()} is after --to {end.isoformat()}")
        await run_in_threadpool(_work(worlds, start, end, check_only=True), console.ledger, lambda n: None)
        title = " vs ".join(" / ".join(x for x in (w[0], w[2]) if x) for w in worlds)
        job = console.jobs.submit(title, fields, point.head_seq, _work(worlds, start, end))
    except (BadRequest, LedgerError) as exc:
        status = 503 if isinstance(exc, QueueFull) else 400
        return _whatif_page(request, console, view, point, str(exc), fields, status)
    return RedirectResponse(f"/whatif/jobs/{job.id}", status_code=303)


def whatif_job(request: Request) -> Response:
    console = console_of(request)
    job = console.jobs.get(request.path_params["job_id"])
    if job is None:
        raise NotFound("no such what-if (results are kept while the console runs: run it again)")
    view = View.of(request.url.path, dict(request.query_params))
    if view.format is not None:
        if job.result is None:
            raise BadRequest(f"the what-if is {job.state}: nothing to download yet")
        if view.format == "json":
            return json_download(job.result, "whatif")
        return csv_download(["asset", "metric", *_world_labels(job.result)], _summary_rows(job.result), "whatif",
                            safe=view.safe)
    return console.page(request, "whatif_job.html", _job_context(console, view, job))


def _world_labels(data: dict[str, Any]) -> list[str]:
    return ["actual", *data["versions"]] if "versions" in data else ["actual", "alternative", "difference"]


def _summary_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"asset": asset, "metric": metric, **values} for asset, metrics in data["summary"].items()
            for metric, values in metrics.items()]


def _job_context(console: Console, view: View, job: Job) -> dict[str, Any]:
    """The job as it is now, read once: the worker sets the result before it marks the job done, so a page never
    shows a finished job without its result (the state is read first, and the page shows that state)."""
    state = job.state
    result = job.result if state == "done" else None
    context: dict[str, Any] = {"view": view, "point": None, "title": f"What-if: {job.title}", "job": job,
                               "ahead": console.jobs.ahead_of(job), "state": state, "result": result}
    if result is not None:
        figures = console.reads.scales()
        data = result
        context.update(worlds=_world_labels(data), summary=summary_table_rows(data, figures),
                       accounts=account_table_rows(data, figures), chart=_cumulative_chart(data),
                       loss=loss_allocation_rows(data, figures) if "loss_allocation" in data else None,
                       loss_columns=LOSS_COLUMNS)
    return context


def _cumulative_chart(data: dict[str, Any]) -> Any:
    """The report's cumulative closed notional, one step line per world."""
    cumulative = data.get("cumulative_notional") or {}
    lines = []
    for n, (label, points) in enumerate(cumulative.items()):
        shown = [(parse_time(at), Decimal(total)) for at, _, total in points]
        if shown:
            lines.append(Line(label, _WORLD_COLOURS[n % len(_WORLD_COLOURS)], shown))
    if not lines:
        return None
    assets = sorted({asset for points in cumulative.values() for _, asset, _ in points})
    return charts.time_chart("Cumulative notional liquidated", " / ".join(assets), lines)


# -- login ----------------------------------------------------------------------------------------------------------
async def login(request: Request) -> Response:
    console = console_of(request)
    if request.method == "GET" or console.token is None:
        return console.templates.TemplateResponse(request, "login.html", {"f": None, "guarded": console.token is not None,
                                                                         "failed": False})
    async with request.form(max_files=0, max_fields=2) as form:
        given = str(form.get("token") or "").strip()
    if not hmac.compare_digest(given.encode(), console.token.encode()):
        return console.templates.TemplateResponse(request, "login.html", {"f": None, "guarded": True, "failed": True},
                                                  status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session_value(console.token), httponly=True, samesite="strict", path="/")
    return response


ROUTES = [
    Route("/reconcile", reconcile_form, methods=["GET"]),
    Route("/reconcile", reconcile_upload, methods=["POST"]),
    Route("/reconcile/{key}", reconcile_result),
    Route("/whatif", whatif_form, methods=["GET"]),
    Route("/whatif", whatif_submit, methods=["POST"]),
    Route("/whatif/jobs/{job_id}", whatif_job),
    Route("/login", login, methods=["GET", "POST"]),
]

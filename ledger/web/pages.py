"""The console's read pages: overview, accounts, account, engine decision, markets, the engine's records, rules.

Each handler reads its point (``as_of``, ``known_at``), the figures the CLI
prints for it (``ConsoleReads``), and either renders its template or, with
``format=json|csv``, downloads what it shows, exactly. Paths carry names
percent-encoded whole (``views.path_of``), so any account name is one
segment; ``/account?name=...`` reaches the same page for a name a browser
would rewrite as a path (``.`` or ``..``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ledger.app.compliance_views import render_explanation
from ledger.app.console import RISK_COLUMNS, Point
from ledger.app.views import (
    HISTORY_COLUMNS,
    POSITION_COLUMNS,
    STATEMENT_COLUMNS,
    history_csv,
    position_rows,
    statement_rows,
)
from ledger.domain.timefmt import format_time, parse_time
from ledger.web import charts
from ledger.web.charts import COLOURS, Line, Marks
from ledger.web.context import Console, console_of
from ledger.web.shown import csv_download, json_download
from ledger.web.views import BadRequest, View, parse_page, parse_share, parse_when, path_of

__all__ = ["ROUTES", "RECORD_COLUMNS"]

PER_PAGE = 50
LATEST = 10
"""How many of the engine's latest decisions the overview lists."""

RECORD_COLUMNS = {
    "liquidations": ["id", "at", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger",
                     "reason", "equity_before", "maintenance_before", "target_before", "equity_after",
                     "maintenance_after"],
    "bankruptcies": ["id", "account", "asset", "deficit", "insurance_covered", "adl_covered", "socialized_loss",
                     "trigger"],
    "deleverages": ["id", "at", "account", "market", "side", "qty", "mark", "haircut", "adl_price", "bankrupt_account",
                    "bankruptcy", "rank"],
}
"""Each list's CSV columns: the CLI's (``ledger liquidations|bankruptcies|deleverages --format csv``)."""


def _read(request: Request) -> tuple[Console, View, Point]:
    console = console_of(request)
    view = View.of(request.url.path, dict(request.query_params))
    return console, view, console.reads.point(view.as_of, view.known_at)


def _kept(console: Console, request: Request, point: Point, make: Callable[[], HTMLResponse]) -> Response:
    """A page at a point never changes (the log only grows): rendered once per path, query and point, then served
    from memory (``ConsoleReads.remember``); only the point is read again for each request."""
    key = ("page", request.url.path, tuple(sorted(request.query_params.multi_items())), point.seq)

    def render() -> tuple[bytes, int]:
        response = make()
        return bytes(response.body), response.status_code

    body, status = console.reads.remember(key, render)
    return HTMLResponse(body, status_code=status)


def _common(view: View, point: Point, title: str, **context: Any) -> dict[str, Any]:
    return {"view": view, "point": point, "title": title, "path_of": path_of, **context}


def _point_json(point: Point) -> dict[str, Any]:
    return {"seq": point.seq,
            "as_of": format_time(point.as_of) if point.as_of else None,
            "known_at": format_time(point.known_at) if point.known_at else None}


def _table(view: View, tables: dict[str, tuple[list[str], list[dict[str, Any]]]], name: str) -> Response:
    """The CSV of one of the page's tables (``table=NAME``; the first when not named)."""
    chosen = view.table or next(iter(tables))
    if chosen not in tables:
        raise BadRequest(f"table: {chosen!r} is not one of {', '.join(tables)}")
    columns, rows = tables[chosen]
    return csv_download(columns, rows, f"{name}-{chosen}", safe=view.safe)


# -- overview ------------------------------------------------------------------------------------------------------
def overview(request: Request) -> Response:
    console, view, point = _read(request)
    reads = console.reads
    head, verified = reads.head(), reads.verify()
    fund, interest = reads.insurance_fund(point), reads.open_interest(point)
    latest = {kind: getattr(reads, kind)(point)[-LATEST:] for kind in RECORD_COLUMNS}
    verify = {"ok": verified.ok, "events_checked": verified.events_checked, "seals_checked": verified.seals_checked,
              "head_hash": verified.head_hash, "first_bad_seq": verified.first_bad_seq, "problem": verified.problem,
              "notes": list(verified.notes)}
    data = {"point": _point_json(point), "head": head, "verify": verify, "rules": reads.rules(point),
            "insurance_fund": fund, "open_interest": interest, **{f"latest_{k}": v for k, v in latest.items()}}
    if view.format == "json":
        return json_download(data, "overview")
    if view.format == "csv":
        flat = [{"asset": asset, **row} for asset, rows in fund.items() for row in rows]
        return _table(view, {"open_interest": (list(interest[0]) if interest else ["market"], interest),
                             "insurance_fund": (["asset", "seq", "at", "id", "change", "fund"], flat)}, "overview")
    fund_now = reads.balances(point).get("system", {}).get("insurance_fund", {})
    chart = _fund_chart(fund, fund_now, point)
    return console.page(request, "overview.html", _common(
        view, point, "Overview", head=head, verify=verify, rules=data["rules"], fund_now=fund_now, chart=chart,
        interest=interest, latest=latest))


def _fund_chart(fund: dict[str, list[dict[str, Any]]], now: dict[str, str], point: Point) -> Any:
    lines = [Line(f"insurance fund {asset}", COLOURS["fund"],
                  [(parse_time(r["at"]), Decimal(r["fund"])) for r in rows]) for asset, rows in fund.items()]
    if not lines:
        return None
    return charts.time_chart(f"Insurance fund up to #{point.seq}", " / ".join(sorted(fund)), lines)


# -- accounts ------------------------------------------------------------------------------------------------------
_SORTS = ("account", "equity", "margin_ratio", "distance_to_liquidation", "open_positions", "liquidations")


def _sort_key(column: str) -> Any:
    def key(row: dict[str, Any]) -> Any:
        value = row.get(column)
        if column == "account":
            return (0, value)
        return (1, Decimal(0)) if value is None else (0, Decimal(str(value)))
    return key


def _distressed(row: dict[str, Any]) -> bool:
    """Whether an account's margin is short: maintenance margin at or above its equity (or no equity left)."""
    if Decimal(row["maintenance_margin"]) <= 0:
        return False
    return row["margin_ratio"] is None or Decimal(row["margin_ratio"]) >= 1


def _filtered(console: Console, view: View, point: Point) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The accounts' risk rows the query keeps (search, at risk within x%, liquidated in a window), sorted."""
    query = view.query
    search = (query.get("q") or "").strip().casefold()
    within = parse_share(query.get("at_risk"), "at_risk")
    start, end = parse_when(query.get("liquidated_from"), "liquidated_from"), parse_when(query.get("liquidated_to"),
                                                                                         "liquidated_to")
    sort = query.get("sort") or "account"
    if sort not in _SORTS:
        raise BadRequest(f"sort: {sort!r} is not one of {', '.join(_SORTS)}")
    descending = query.get("dir") == "desc"
    liquidations = console.reads.liquidations(point)
    counts: dict[str, int] = {}
    for record in liquidations:
        counts[record["account"]] = counts.get(record["account"], 0) + 1
    rows = [{**row, "liquidations": counts.get(row["account"], 0), "distressed": _distressed(row)}
            for row in console.reads.risk(point)]
    if search:
        rows = [row for row in rows if search in row["account"].casefold()]
    if within is not None:
        rows = [row for row in rows if row["distance_to_liquidation"] is not None
                and Decimal(row["distance_to_liquidation"]) * 100 <= within]
    if start is not None or end is not None:
        low, high = format_time(start) if start else None, format_time(end) if end else None
        hit = {r["account"] for r in liquidations if (low is None or r["at"] >= low) and (high is None or r["at"] <= high)}
        rows = [row for row in rows if row["account"] in hit]
    rows.sort(key=_sort_key(sort), reverse=descending)
    if descending:  # the accounts without the figure stay last either way
        rows.sort(key=lambda row: row.get(sort) is None)
    filters = {"q": search or None, "at_risk": None if within is None else str(within),
               "liquidated_from": format_time(start) if start else None,
               "liquidated_to": format_time(end) if end else None, "sort": sort, "dir": "desc" if descending else "asc"}
    return rows, filters


def accounts(request: Request) -> Response:
    console, view, point = _read(request)
    rows, filters = _filtered(console, view, point)
    if view.format == "json":
        return json_download({"point": _point_json(point), "filters": filters, "accounts": rows}, "accounts")
    if view.format == "csv":
        return _table(view, {"accounts": ([*RISK_COLUMNS, "liquidations"], rows)}, "accounts")
    per = parse_page(view.query.get("per"), "per", PER_PAGE, 500)
    pages = max(1, -(-len(rows) // per))
    page = min(parse_page(view.query.get("page"), "page", 1), pages)
    return _kept(console, request, point, lambda: console.page(request, "accounts.html", _common(
        view, point, "Accounts", rows=rows[(page - 1) * per:page * per], total=len(rows), page=page, pages=pages,
        per=per, filters=filters, sorts=_SORTS)))


# -- one account ---------------------------------------------------------------------------------------------------
def account(request: Request) -> Response:
    name = request.path_params.get("name") or request.query_params.get("name") or ""
    console, view, point = _read(request)
    report = console.reads.account(name, point)
    if view.format == "json":
        if view.table == "history":
            return json_download(console.reads.history(name, point), f"history-{name}")
        return json_download(report, f"account-{name}")
    if view.format == "csv":
        columns, flat = history_csv(console.reads.history(name, point))
        return _table(view, {"positions": (POSITION_COLUMNS, position_rows(report)),
                             "cash": (STATEMENT_COLUMNS, statement_rows(report)),
                             "history": (columns, flat)}, f"account-{name}")
    per = parse_page(view.query.get("per"), "per", PER_PAGE, 500)
    total = console.reads.history_length(name, point)
    pages = max(1, -(-total // per))
    page = min(parse_page(view.query.get("page"), "page", pages), pages)
    rows = console.reads.history_page(name, point, (page - 1) * per, per)
    acct = report["accounts"][name]
    return _kept(console, request, point, lambda: console.page(request, "account.html", _common(
        view, point, f"Account {name}", name=name, acct=acct, settle=report["settle_assets"],
        chart=_equity_chart(name, console.reads.equity_rows(name, point), point, total), rows=rows, total=total, page=page,
        pages=pages, per=per, columns=HISTORY_COLUMNS, self_path=path_of("accounts", name),
        liquidations=console.reads.liquidations(point, name))))


def _equity_chart(name: str, rows: list[dict[str, Any]], point: Point, total: int) -> Any:
    """Equity after rows of the account's history (every own and funding row; marks sampled evenly when the history
    has more than ``rows``), its liquidations, bankruptcies and funding marked on it."""
    assets = sorted({asset for row in rows for asset in row["equity_by_asset"]})
    if not assets:
        return None
    asset = assets[0]
    points = [(parse_time(r["at"]), Decimal(r["equity_by_asset"][asset])) for r in rows if asset in r["equity_by_asset"]]

    def marked(kind: str) -> list[tuple[Any, Decimal, str, str | None]]:
        return [(parse_time(r["at"]), Decimal(r["equity_by_asset"][asset]), f"{r['type']} {r['id']}: {r['what']}",
                 path_of("events", r["id"]) if kind != "funding" else None)
                for r in rows if r["type"] == kind and asset in r["equity_by_asset"]]

    marks = [Marks("funding", COLOURS["funding"], marked("funding"), "triangle"),
             Marks("liquidation", COLOURS["liquidation"], marked("liquidation")),
             Marks("bankruptcy", COLOURS["bankruptcy"], marked("bankruptcy"))]
    sampled = f" (marks sampled: {len(rows):,} of {total:,} rows)" if len(rows) < total else ""
    title = f"{name}: equity in {asset} up to #{point.seq}{sampled}"
    return charts.time_chart(title, asset, [Line(f"equity {asset}", COLOURS["equity"], points)],
                             [m for m in marks if m.points])


# -- an engine decision ---------------------------------------------------------------------------------------------
def event(request: Request) -> Response:
    event_id = request.path_params["event_id"]
    console, view, point = _read(request)
    info = console.reads.explain(event_id, point)
    if view.format == "json":
        return json_download(info, f"explain-{event_id}")
    if view.format == "csv":
        raise BadRequest("format: an explanation downloads as json (its figures are not one table)")
    kind = info["event"]["type"]
    text = render_explanation(info, console.reads.scales())
    return _kept(console, request, point, lambda: console.page(request, "event.html", _common(
        view, point, f"{kind} {event_id}", info=info, kind=kind, text=text, e=info["event"])))


# -- markets -------------------------------------------------------------------------------------------------------
def markets(request: Request) -> Response:
    console, view, point = _read(request)
    interest = console.reads.open_interest(point)
    if view.format == "json":
        return json_download({"point": _point_json(point), "open_interest": interest}, "markets")
    if view.format == "csv":
        return _table(view, {"open_interest": (list(interest[0]) if interest else ["market"], interest)}, "markets")
    return _kept(console, request, point, lambda: console.page(request, "markets.html", _common(
        view, point, "Markets", interest=interest)))


def market(request: Request) -> Response:
    name = request.path_params["name"]
    console, view, point = _read(request)
    data = console.reads.market(name, point)
    if view.format == "json":
        return json_download({"point": _point_json(point), **data}, f"market-{name}")
    if view.format == "csv":
        return _table(view, {"marks": (["seq", "at", "id", "price"], data["marks"]),
                             "funding": (["seq", "at", "id", "rate"], data["funding"]),
                             "positions": (["account", *POSITION_COLUMNS[2:], "adl_quantile"], data["positions"]),
                             "liquidations": (RECORD_COLUMNS["liquidations"], data["liquidations"])}, f"market-{name}")
    return _kept(console, request, point, lambda: console.page(request, "market.html", _common(
        view, point, f"Market {name}", name=name, data=data, charts=_market_charts(data, point))))


def _market_charts(data: dict[str, Any], point: Point) -> tuple[Any, Any]:
    """Marks (liquidations at their prices, on the same time axis) and funding rates, over one time span."""
    marks = [(parse_time(m["at"]), Decimal(m["price"])) for m in data["marks"]]
    funding = [(parse_time(f["at"]), Decimal(f["rate"])) for f in data["funding"]]
    closes = [(parse_time(r["at"]), Decimal(r["price"]), f"liquidation {r['id']}: {r['side']} {r['qty']} of {r['account']}",
               path_of("events", r["id"])) for r in data["liquidations"]]
    times = [p[0] for p in marks + funding] + [c[0] for c in closes]
    span = (min(times), max(times)) if times else None
    name = data["market"]
    price_chart = charts.time_chart(
        f"{name}: marks up to #{point.seq}", data["settle_asset"], [Line("mark", COLOURS["mark"], marks, step=False)],
        [Marks("liquidation", COLOURS["liquidation"], closes)] if closes else [], span=span)
    funding_chart = charts.time_chart(
        f"{name}: funding rates", "rate", [Line("funding rate", COLOURS["rate"], funding, step=False)],
        [Marks("funding", COLOURS["funding"], [(t, r, f"funding rate {r}", None) for t, r in funding], "triangle")],
        span=span, height=200)
    return price_chart, funding_chart


# -- the engine's records, the rules, the balances ------------------------------------------------------------------
def records(request: Request) -> Response:
    kind = request.url.path.strip("/")
    console, view, point = _read(request)
    account_name = (view.query.get("account") or "").strip() or None
    rows = getattr(console.reads, kind)(point, account_name)
    if view.format == "json":
        return json_download(rows, kind)
    if view.format == "csv":
        return _table(view, {kind: (RECORD_COLUMNS[kind], rows)}, kind)
    per = parse_page(view.query.get("per"), "per", PER_PAGE, 500)
    pages = max(1, -(-len(rows) // per))
    page = min(parse_page(view.query.get("page"), "page", pages), pages)
    return _kept(console, request, point, lambda: console.page(request, "records.html", _common(
        view, point, kind.capitalize(), kind=kind, rows=rows[(page - 1) * per:page * per], total=len(rows), page=page,
        pages=pages, per=per, account=account_name, columns=RECORD_COLUMNS[kind])))


def rules(request: Request) -> Response:
    console, view, point = _read(request)
    report = console.reads.rules(point)
    if view.format == "json":
        return json_download(report, "rules")
    if view.format == "csv":
        return _table(view, {"activations": (["event_id", "at", "version"], report["activations"]),
                             "loss_allocation_activations": (["event_id", "at", "version"],
                                                             report["loss_allocation"]["activations"])}, "rules")
    return _kept(console, request, point, lambda: console.page(request, "rules.html", _common(
        view, point, "Rules", report=report)))


def balances(request: Request) -> Response:
    console, view, point = _read(request)
    report = console.reads.balances(point)
    if view.format == "json":
        return json_download(report, "balances")
    if view.format == "csv":
        return _table(view, {"statement": (STATEMENT_COLUMNS, statement_rows(report)),
                             "positions": (POSITION_COLUMNS, position_rows(report))}, "balances")
    return _kept(console, request, point, lambda: console.page(request, "balances.html", _common(
        view, point, "Balances", rows=statement_rows(report), settle=report["settle_assets"])))


ROUTES = [
    Route("/", overview),
    Route("/accounts", accounts),
    Route("/accounts/{name:path}", account),
    Route("/account", account),
    Route("/events/{event_id:path}", event),
    Route("/markets", markets),
    Route("/markets/{name:path}", market),
    Route("/liquidations", records),
    Route("/bankruptcies", records),
    Route("/deleverages", records),
    Route("/rules", rules),
    Route("/balances", balances),
]

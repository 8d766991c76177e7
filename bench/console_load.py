"""Load on the web console (``ledger serve``): concurrent clients browsing account pages, on loopback only.

    python -m bench.console_load --db sqlite:///out/ledger.db [--clients 20] [--requests 2000] [--seconds 60]
                                 [--think 1.0] [--as-of T] [--warm]

Starts ``ledger serve`` in its own process (as a user starts it, on a free 127.0.0.1 port) over the ledger, lists
its accounts (``/accounts?format=json``), then runs ``--clients`` threads, each requesting account pages
(``/accounts/NAME``, names drawn with a fixed seed) over one keep-alive connection, until ``--requests`` were made in
all or ``--seconds`` have passed, whichever comes first: the load is bounded in count and in time, and it stops by
itself. ``--think S``: each client pauses between its pages (exponentially, S seconds on average, seeded), as
people browsing do; 0 (the default) is a closed loop, every client asking again as soon as it has its answer.
It prints one JSON line: requests, errors (any answer but 200, or a failed connection), throughput, and the p50, p90,
p99 and max latency in milliseconds; at the head (the default) or ``--as-of T`` (every page at one point). The
first request for an account reads its own events and one page (kept after); ``--warm`` requests each page once
first. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from urllib.parse import quote, urlencode

MAX_CLIENTS = 64
MAX_REQUESTS = 100_000
MAX_SECONDS = 600


@contextmanager
def _serving(url: str) -> Iterator[int]:
    """``ledger serve`` over ``url`` on a free loopback port, in its own process; the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryFile() as log:
        yield from _served(url, port, log)


def _served(url: str, port: int, log: IO[bytes]) -> Iterator[int]:
    server = subprocess.Popen([sys.executable, "-m", "ledger", "--db", url, "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"ledger serve did not start: {log.read().decode()}") from None
                time.sleep(0.1)
        yield port
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path, headers={"Host": "127.0.0.1"})
    answer = conn.getresponse()
    answer.read()
    return answer.status


class _Load:
    """Shared by the clients: the budget left, and what each request took."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.left, self.deadline = requests, time.monotonic() + seconds
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = self.reconnects = 0

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0 or time.monotonic() >= self.deadline:
                return False
            self.left -= 1
            return True

    def reconnected(self) -> None:
        with self.lock:
            self.reconnects += 1

    def record(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.errors += 0 if ok else 1


def _client(port: int, paths: list[str], load: _Load, seed: int, think: float) -> None:
    chooser = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        while True:
            if think:
                time.sleep(min(chooser.expovariate(1 / think), 10 * think))
            if not load.take():
                break
            path = chooser.choice(paths)
            started = time.perf_counter()
            try:
                try:
                    ok = _get(conn, path) == 200
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # the server closed the idle keep-alive connection (uvicorn: after 5 s); a browser asks again
                    conn.close()
                    load.reconnected()
                    ok = _get(conn, path) == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            load.record(time.perf_counter() - started, ok)
    finally:
        conn.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def run(url: str, clients: int, requests: int, seconds: float, as_of: str | None, warm: bool,
        think: float = 0.0) -> dict[str, object]:
    """The load described in the module docstring; its figures."""
    query = "?" + urlencode({"as_of": as_of}) if as_of else ""
    with _serving(url) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        listing = urlencode({"format": "json", **({"as_of": as_of} if as_of else {})})
        conn.request("GET", f"/accounts?{listing}", headers={"Host": "127.0.0.1"})
        names = sorted({row["account"] for row in json.loads(conn.getresponse().read())["accounts"]})
        paths = [f"/accounts/{quote(name, safe='')}{query}" for name in names]
        if warm:
            for path in paths:
                _get(conn, path)
        conn.close()
        load = _Load(requests, seconds)
        started = time.monotonic()
        threads = [threading.Thread(target=_client, args=(port, paths, load, n, think)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    ms = [value * 1000 for value in load.latencies]
    return {"db": url, "accounts": len(names), "clients": clients, "requests": len(ms), "errors": load.errors,
            "reconnects": load.reconnects,
            "seconds": round(elapsed, 2), "per_second": round(len(ms) / elapsed, 1) if elapsed else None,
            "p50_ms": round(statistics.median(ms), 1) if ms else None, "p90_ms": round(_percentile(ms, 0.9), 1),
            "p99_ms": round(_percentile(ms, 0.99), 1), "max_ms": round(max(ms), 1) if ms else None, "warm": warm,
            "as_of": as_of, "think_s": think}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="the ledger's database URL")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000, help="requests in all (at most 100,000)")
    parser.add_argument("--seconds", type=float, default=60, help="the longest the load runs (at most 600)")
    parser.add_argument("--as-of", default=None, help="every page at this business time")
    parser.add_argument("--warm", action="store_true", help="request every account page once before measuring")
    parser.add_argument("--think", type=float, default=0.0, help="each client's mean pause between pages, seconds")
    args = parser.parse_args()
    if not (1 <= args.clients <= MAX_CLIENTS and 1 <= args.requests <= MAX_REQUESTS and 0 < args.seconds <= MAX_SECONDS
            and 0 <= args.think <= 60):
        parser.error(f"bounded load only: 1..{MAX_CLIENTS} clients, 1..{MAX_REQUESTS} requests, 0..{MAX_SECONDS} s")
    print(json.dumps(run(args.db, args.clients, args.requests, args.seconds, args.as_of, args.warm, args.think)))


if __name__ == "__main__":
    main()

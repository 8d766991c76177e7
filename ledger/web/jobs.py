"""What-if runs in the background: one at a time, the others queued, each with its progress and a URL of its own.

A what-if replays the whole history once per world (minutes on a long log),
so the page that asks for one does not wait: the run is queued and its page
(``/whatif/jobs/ID``) shows where it is (refreshing itself, no script), then
the result. One worker thread runs the jobs in the order they came; at most
``MAX_QUEUED`` wait, and the ``KEPT`` newest finished jobs keep their result
(and their URL) while the console runs. A job's id is random: a URL cannot be
guessed from another.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from attrs import define, field

from ledger.app.ledger import Ledger
from ledger.errors import LedgerError

__all__ = ["Job", "Jobs", "QueueFull", "MAX_QUEUED", "KEPT"]

MAX_QUEUED = 16
KEPT = 100
LOG = logging.getLogger("ledger")

Work = Callable[[Ledger, Callable[[int], None]], dict[str, Any]]
"""A job's work: given the ledger and a progress callback (events replayed), the result's JSON."""


class QueueFull(LedgerError, RuntimeError):
    """Too many what-ifs wait already: try again when one has finished."""


@define
class Job:
    id: str
    title: str
    request: dict[str, Any]
    """what was asked (the form's fields), to show and to run again"""
    total: int
    work: Work
    state: str = "queued"
    """queued, running, done or failed"""
    done: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    position: int = 0
    lock: threading.Lock = field(factory=threading.Lock, repr=False)

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return min(99, self.done * 100 // self.total) if self.total > 0 else 0

    def advance(self, count: int) -> None:
        with self.lock:
            self.done += count


class Jobs:
    """The queue of what-if jobs of one console, and the worker that runs them."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._queue: queue.Queue[Job] = queue.Queue()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, title: str, request: dict[str, Any], total: int, work: Work) -> Job:
        """Queue a job (``QueueFull`` when ``MAX_QUEUED`` wait already); the job, with its id."""
        with self._lock:
            waiting = sum(1 for job in self._jobs.values() if job.state == "queued")
            if waiting >= MAX_QUEUED:
                raise QueueFull(f"{waiting} what-ifs are waiting already: try again when one has finished")
            job = Job(secrets.token_urlsafe(12), title, request, total, work, position=waiting + 1)
            self._jobs[job.id] = job
            self._forget_old()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="ledger-console-whatif", daemon=True)
                self._worker.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def listed(self) -> list[Job]:
        """Every job kept, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def ahead_of(self, job: Job) -> int:
        """How many jobs run or wait before ``job``."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sum(1 for other in jobs[:jobs.index(job)] if other.state in ("queued", "running")) if job in jobs else 0

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.state in ("done", "failed")]
        for key in finished[:max(0, len(self._jobs) - KEPT)]:
            del self._jobs[key]

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            job.state = "running"
            try:
                job.result = job.work(self.ledger, job.advance)
                job.state = "done"
            except LedgerError as exc:  # a refusal with the CLI's message (params a version refuses, a bad window)
                job.error, job.state = str(exc), "failed"
            except Exception as exc:
                reference = secrets.token_hex(6)
                LOG.error("console: what-if job %s failed (reference %s)", job.id, reference, exc_info=exc)
                job.error = f"the what-if could not be run (reference {reference} in the server's log)"
                job.state = "failed"
            finally:
                self._queue.task_done()

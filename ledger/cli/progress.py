"""Progress on stderr for the long commands, shown only on a terminal: honest about what is left.

An ingest used to show one bar of the file's bytes, and its ETA ran about 5×
low: reading and decoding a line is the fast part, and the reading runs a chunk
ahead of the engine (admit, fold, decide) and the store (write the rows), which
take most of the time, so the bytes were all read while most of the work was
still to do (a file of one or two chunks showed 100% before the engine had
begun). Now each phase has its own bar, its own count and its own estimate: the
lines the engine and the store have still to take (from the lines decoded per
byte read, exact once the file is read) at the rate each has kept, then the
commit. No phase's estimate is extrapolated from another's.

A sweep shows its candidates done out of all (``12/16 candidates``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

__all__ = ["IngestBars", "Counted", "ingest_progress", "counted_progress", "PHASES"]

PHASES = {"read": "reading", "engine": "engine (admit, fold, decide)", "store": "storing", "commit": "commit, snapshots"}
"""An ingest's phases as ``Ledger.ingest_file`` reports them, and the name each bar shows."""

def _bar(console: Console, get_time: Callable[[], float] | None, *columns: ProgressColumn) -> Progress:
    """A transient bar on ``console`` (drawn only on a terminal), timed by ``get_time`` (tests) or the monotonic clock."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), *columns, console=console,
                    transient=True, disable=not console.is_terminal, get_time=get_time)


class IngestBars:
    """One bar per phase of an ingest, fed with ``(phase, count)`` as ``Ledger.ingest_file(phases=...)`` reports them:
    ``read`` (bytes read and decoded), ``lines`` (records decoded into a chunk: what the engine and the store will
    take), ``engine`` and ``store`` (records each has taken), ``commit`` (0 when it starts, 1 when done); ``committed``
    (the transaction's own end, before the snapshots) draws nothing.

    Each bar says what its phase has done out of what it has to do, and the time it has left at the rate it has
    kept since the ingest began (the phases take turns, chunk by chunk, so the store's is the ingest's)."""

    def __init__(self, bar: Progress, name: str, size: int | None) -> None:
        self.bar, self.size, self.started = bar, size, bar.get_time()
        self.read = self.lines = 0
        self.done = {"engine": 0, "store": 0}
        self.tasks: dict[str, TaskID] = {
            phase: bar.add_task(f"{label} {name}" if phase == "read" else label, total=size if phase == "read" else None,
                                count="", left="")
            for phase, label in PHASES.items()
        }
        self.bar.update(self.tasks["commit"], total=1, count="waiting")

    @property
    def drawn(self) -> bool:
        """Whether the bars are drawn (a terminal): where they are not, an ingest need not report to them at all."""
        return not self.bar.disable

    def __call__(self, phase: str, count: int) -> None:
        if phase == "read":
            self.read += count
            shown = decimal(self.read) + (f"/{decimal(self.size)}" if self.size else "")
            self.bar.update(self.tasks["read"], completed=self.read, count=shown, left=self._left(self.read, self.size))
        elif phase == "lines":
            self.lines += count
            for name in self.done:
                self._lines(name)
        elif phase in self.done:
            self.done[phase] += count
            self._lines(phase)
        elif phase == "commit":
            if self.size is None or self.read < self.size:  # an unsized input (stdin, gzip) is read to its end now
                self.size = self.read
                for name in self.done:
                    self._lines(name)
            self.bar.update(self.tasks["commit"], completed=count, count="done" if count else "running")

    def expected_lines(self) -> int | None:
        """The lines the whole file holds: exact once it is read, else the lines decoded per byte read times its
        size (None for an input of unknown size: no estimate is better than a wrong one)."""
        if self.size is not None and self.read >= self.size:
            return self.lines
        if not self.size or not self.read:
            return None
        return max(self.lines, round(self.lines * self.size / self.read))

    def _lines(self, phase: str) -> None:
        total, done = self.expected_lines(), self.done[phase]
        shown = f"{done:,}/{total:,} lines" if total is not None else f"{done:,} lines"
        self.bar.update(self.tasks[phase], total=total, completed=done, count=shown, left=self._left(done, total))

    def _left(self, done: int, total: int | None) -> str:
        """The phase's time left: what it still has to do at the rate it has kept since the ingest began."""
        elapsed = self.bar.get_time() - self.started
        if total is None or not done or elapsed <= 0:
            return "left -:--:--"
        seconds = round((total - done) * elapsed / done)
        return f"left {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@contextmanager
def ingest_progress(name: str, size: int | None, console: Console | None = None,
                    get_time: Callable[[], float] | None = None) -> Iterator[IngestBars]:
    """The bars of an ingest of ``name`` (``size`` bytes, None when unknown) on stderr, on a terminal only."""
    console = console or Console(stderr=True)
    with _bar(console, get_time, TextColumn("{task.fields[count]}"), TextColumn("{task.fields[left]}")) as bar:
        yield IngestBars(bar, name, size)


class Counted:
    """Advance by ``n`` done; ``total(n)`` once it is known how many there are."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar, self.task = bar, task

    def __call__(self, n: int) -> None:
        self.bar.advance(self.task, n)

    def total(self, n: int) -> None:
        self.bar.update(self.task, total=n)


@contextmanager
def counted_progress(description: str, unit: str, console: Console | None = None,
                     get_time: Callable[[], float] | None = None) -> Iterator[Counted]:
    """A bar of things done out of all (``12/16 candidates``) on stderr, on a terminal only."""
    console = console or Console(stderr=True)
    with _bar(console, get_time, MofNCompleteColumn(), TextColumn(unit), TimeRemainingColumn()) as bar:
        yield Counted(bar, bar.add_task(description, total=None))

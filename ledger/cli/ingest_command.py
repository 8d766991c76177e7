"""``ledger ingest FILE...``: files stored in order by one process, each its own transaction.

One file is stored whole or not at all (``Ledger.ingest_file``). Several
are stored one after another on one open ledger, so the state at the head is
loaded once and the engine session is carried warm from each file to the
next, where a process per file loads it every time (at 100,000 accounts,
about 4 s of a 100,000-line file's 12-15 s). What may stop the command
half way is said so that nobody has to guess what is stored:

- before any file is read, every file must exist and be readable, and the
  files must follow each other in business time (the log's time never goes
  backwards, so a file given after a later one would be refused for ever
  once the later one is stored);
- a file refused, a database error or an interrupt stops the command; when
  anything is stored by then (a file before it, or the file itself, committed
  when the interrupt came during its snapshots), stderr's last line says
  which files are stored, and which are not, or not known (a connection lost
  while committing).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from ledger.app import failures
from ledger.app.ingest import business_span
from ledger.app.ledger import AppendResult, Ledger
from ledger.app.views import counted
from ledger.cli.app import open_ledger
from ledger.cli.progress import IngestBars, ingest_progress
from ledger.domain.timefmt import format_time
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = ["COMMANDS", "ingest"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="FILE...")
@click.pass_context
def ingest(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Ingest JSON Lines files, each atomically (every line of it or nothing); `-` reads standard input, FILE.gz is read
    through gzip.

    Several files are ingested in the order given, one after another, by one process: one start-up, and the engine
    state carried warm from each to the next. Each file is its own transaction, as if ingested by a command of its
    own: the first refused stops the command (exit 2), the files before it stay stored, and running the same list
    again once it is mended skips what is stored. Before any is read, every file must exist and be readable, and
    each must start no earlier in business time than the one before it ends.
    """
    _check_before_reading(files)
    with open_ledger(ctx) as ledger:
        for done, file in enumerate(files):
            tracked = _Tracked()
            try:
                _ingest_one(ledger, file, tracked)
            except (KeyboardInterrupt, click.Abort):
                if not (done or tracked.committing):
                    raise  # the entry point's word: nothing was changed
                click.echo(_what_is_stored(files, done, tracked, "interrupted"), err=True)
                sys.exit(130)
            except Exception as exc:
                if not (done or tracked.committing):
                    raise  # nothing stored: the entry point says why, as for one file
                found = failures.classify(exc, ctx.obj["db"])
                if found is None:  # unexpected: the entry point logs it (exit 4), after what is stored is said
                    if isinstance(exc, BrokenPipeError):  # click ends it silently, exit 1: say why it stopped
                        click.echo("error: standard output was closed (a broken pipe): the files' lines can no longer "
                                   "be written, so the command stops, as a pipeline's writer does", err=True)
                    click.echo(_what_is_stored(files, done, tracked, "stopped"), err=True)
                    raise
                status, message = found
                click.echo(f"error: {message}", err=True)
                click.echo(_what_is_stored(files, done, tracked, "stopped"), err=True)  # the last word
                sys.exit(status)


def _check_before_reading(files: tuple[str, ...]) -> None:
    """Refuse, storing nothing, what would stop the command half way for a reason known before reading."""
    if files.count("-") > 1:
        raise click.UsageError("standard input (-) can be read only once")
    seen: dict[Path, str] = {}
    missing = []
    for file in (file for file in files if file != "-"):
        path = Path(file).resolve()
        if path in seen:
            raise click.UsageError(f"{file} is {seen[path]} again: give each file once")
        seen[path] = file
        if not path.exists():  # (one there but not readable, click's own check refuses: a usage error)
            missing.append(InvalidEvent("no such file", where=file))
    if missing:
        raise InvalidBatch(missing)
    previous: tuple[str, datetime] | None = None
    for file in files:
        span = business_span(file)
        if span is None:
            continue
        if previous is not None and span[0] < previous[1]:
            raise InvalidBatch([InvalidEvent(
                f"starts at {format_time(span[0])}, before {previous[0]} ends ({format_time(previous[1])}): the "
                "log's business time never goes backwards; give the files in business-time order", where=file)])
        previous = (file, span[1])


class _Tracked:
    """Where one file's ingest got to, told by ``Ledger.ingest_file``'s phases: whether its commit began, and whether
    it is committed (stored); the progress bars, when drawn, are told everything too."""

    def __init__(self) -> None:
        self.committing = self.committed = False
        """the commit has begun (from then on, until ``committed``, whether the file is stored is not known)"""
        self.bars: IngestBars | None = None

    def __call__(self, phase: str, count: int) -> None:
        if phase == "commit" and not count:
            self.committing = True
        elif phase == "committed":
            self.committed = True
        if self.bars is not None:
            self.bars(phase, count)


def _ingest_one(ledger: Ledger, file: str, tracked: _Tracked) -> None:
    """One file, atomically, with its progress bars (on a terminal), and its line on standard output."""
    plain = Path(file).is_file() and not file.endswith(".gz")  # a gzip file's size is not what its lines add up to
    with ingest_progress(file, Path(file).stat().st_size if plain else None) as bars:
        tracked.bars = bars if bars.drawn else None
        result = ledger.ingest_file(file, phases=tracked)
    click.echo(_summary(file, result))


def _summary(file: str, result: AppendResult) -> str:
    name = _name(file)
    if not result.lines:
        return f"{name}: 0 lines: nothing to store; head is still #{result.head_seq}"
    return (f"{name}: {counted(result.lines, 'line')}: {result.appended} appended, {result.skipped} already stored, "
            f"{counted(result.engine_events, 'engine event')} (liquidations, bankruptcies, deleveraging); "
            f"head is now #{result.head_seq}")


def _name(file: str) -> str:
    return "standard input" if file == "-" else file


def _what_is_stored(files: tuple[str, ...], done: int, tracked: _Tracked, how: str) -> str:
    """Which files are stored when the one at ``done`` failed or was interrupted (``how``), for stderr's last line."""
    name, after = _name(files[done]), len(files) - done - 1
    cause = "the interrupt" if how == "interrupted" else "the failure"
    if tracked.committed:
        stored, this = done + 1, f"{name} is stored (committed before {cause})"
    elif tracked.committing:
        stored, this = done, (f"whether {name} is stored is not known ({cause} came while it was committing; ingest "
                              "it again: what is stored is skipped)")
    else:
        stored, this = done, f"nothing of {name} is stored"
    rest = f"; nothing of the {counted(after, 'file')} after it is stored" if after else ""
    return (f"ingest {how} at {name} (file {done + 1} of {len(files)}): {counted(stored, 'file')} of {len(files)} "
            f"stored (each its own transaction, listed on standard output); {this}{rest}")


COMMANDS = (ingest,)

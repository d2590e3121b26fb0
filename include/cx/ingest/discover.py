"""Walk the landing zone: the files a run reads, and everything else listed with a reason.

Only ``<source>/<YYYY-MM-DD>/<name>`` entries are deliveries. A delivery is read
only if it is a regular file whose resolved path lies inside the landing root, so a
symbolic link never makes the pipeline read (or publish) a file from elsewhere on
disk. Everything under the root that is not read is an :class:`IgnoredPath` with a
reason code: nothing is skipped without a trace. Contents are never opened here.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from cx.contract import LANDING_SOURCES, file_format
from cx.ingest.rejects import IgnoreReason


@dataclass(frozen=True)
class DeliveredFile:
    source: str
    landing_date: date
    path: Path  # resolved, inside the landing root
    fmt: str  # csv, jsonl or parquet
    rel: str  # as delivered: <source>/<day>/<name>, the lineage _file
    compressed: bool = False


@dataclass(frozen=True)
class IgnoredPath:
    """An entry of the landing zone that is not read. ``landing_date`` is set when it
    sits in a day folder (it is then listed with that day's deliveries)."""

    rel: str
    source: str | None
    landing_date: date | None
    reason: str
    detail: str
    files: int = 1  # files it stands for (a whole ignored folder counts its files)


@dataclass(frozen=True)
class Survey:
    files: list[DeliveredFile]
    ignored: list[IgnoredPath]


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _count_files(folder: Path) -> int:
    # Never follows links: a link to / must not make this walk the disk.
    return sum(len(names) for _, _, names in os.walk(folder, followlinks=False))


def _resolve(entry: Path, root: Path) -> tuple[Path | None, str, str]:
    """The entry's real path when it may be read, else (None, reason, detail)."""
    try:
        real = entry.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, IgnoreReason.NOT_A_REGULAR_FILE, "broken or looping symbolic link"
    if not _inside(real, root):
        # The target is not named: it is outside the zone the pipeline may look at.
        return None, IgnoreReason.OUTSIDE_LANDING_ROOT, "symbolic link to a path outside the landing zone"
    return real, "", ""


def _day_of(name: str) -> date | None:
    if len(name) != 10:
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def survey(landing_dir: Path, start: date, end: date, sources: tuple[str, ...] | None = None) -> Survey:
    """Deliveries of ``sources`` dated [start, end], and the ignored entries: those of
    the window's day folders, and those outside any day folder (misnamed day folders,
    folders outside the contract, stray files), in a stable order."""
    root = landing_dir.resolve()
    wanted = sources or tuple(LANDING_SOURCES)
    files: list[DeliveredFile] = []
    ignored: list[IgnoredPath] = []
    if not root.is_dir():
        return Survey(files, ignored)

    def ignore(entry: Path, source: str | None, day: date | None, reason: str, detail: str) -> None:
        rel = entry.relative_to(landing_dir).as_posix()
        count = _count_files(entry) if entry.is_dir() and not entry.is_symlink() else 1
        ignored.append(IgnoredPath(rel, source, day, reason, detail, count))

    for top in sorted(landing_dir.iterdir()):
        if top.name in LANDING_SOURCES:
            if top.name not in wanted:
                continue
            source_real, reason, detail = _resolve(top, root)
            if source_real is None:
                ignore(top, top.name, None, reason, detail)
            elif source_real.is_dir():
                _survey_source(landing_dir, root, top, start, end, files, ignore)
            else:
                ignore(top, top.name, None, IgnoreReason.OUTSIDE_CONTRACT, "a source name that is not a folder")
        elif sources is None or len(wanted) == len(LANDING_SOURCES):
            # Entries of no source are listed by runs of every source only, so a
            # single-source ingest does not replace what the full run listed.
            kind = "folder" if top.is_dir() else "file"
            ignore(
                top,
                None,
                None,
                IgnoreReason.OUTSIDE_CONTRACT,
                f"{kind} at the landing root that is not a contract source",
            )
    return Survey(files, ignored)


def _survey_source(landing_dir, root, source_dir, start, end, files, ignore) -> None:
    source = source_dir.name
    for day_dir in sorted(source_dir.iterdir()):
        day = _day_of(day_dir.name)
        if day is None:
            what = "folder" if day_dir.is_dir() else "file"
            reason = IgnoreReason.MISNAMED_DAY_FOLDER if day_dir.is_dir() else IgnoreReason.OUTSIDE_DAY_FOLDER
            ignore(day_dir, source, None, reason, f"{what} under {source}/ whose name is not a YYYY-MM-DD date folder")
            continue
        if not start <= day <= end:
            continue
        day_real, reason, detail = _resolve(day_dir, root)
        if day_real is None:
            ignore(day_dir, source, day, reason, detail)
            continue
        if not day_real.is_dir():
            ignore(day_dir, source, day, IgnoreReason.OUTSIDE_DAY_FOLDER, "a date-named file, not a folder")
            continue
        for entry in sorted(day_dir.iterdir()):
            _classify(landing_dir, root, entry, source, day, files, ignore)


def _classify(landing_dir, root, entry: Path, source: str, day: date, files, ignore) -> None:
    name = entry.name
    real, reason, detail = _resolve(entry, root)
    if real is None:
        ignore(entry, source, day, reason, detail)
        return
    mode = real.stat().st_mode
    if stat.S_ISDIR(mode):
        ignore(
            entry,
            source,
            day,
            IgnoreReason.NESTED_FOLDER,
            "a folder inside a day folder (files must sit in the day folder)",
        )
        return
    if not stat.S_ISREG(mode):
        # A FIFO or device would block or never end: never opened.
        ignore(entry, source, day, IgnoreReason.NOT_A_REGULAR_FILE, "not a regular file (pipe, socket or device)")
        return
    if name.startswith((".", "_")):
        ignore(
            entry,
            source,
            day,
            IgnoreReason.HIDDEN_FILE,
            "hidden or marker file (name starts with '.' or '_'), e.g. an upload in progress",
        )
        return
    fmt, compressed = file_format(name)
    if fmt is None:
        ignore(
            entry,
            source,
            day,
            IgnoreReason.UNSUPPORTED_FORMAT,
            "extension not in the contract (.csv .tsv .txt .jsonl .json .parquet, optionally .gz)",
        )
        return
    rel = entry.relative_to(landing_dir).as_posix()
    files.append(DeliveredFile(source, day, real, fmt, rel, compressed))


def discover(landing_dir: Path, start: date, end: date, sources: tuple[str, ...] | None = None) -> list[DeliveredFile]:
    """Files of ``sources`` whose date folder lies in [start, end] that will be read, in a stable order."""
    return survey(landing_dir, start, end, sources).files


def landed_days(landing_dir: Path, sources: tuple[str, ...] | None = None) -> dict[str, list[date]]:
    """The date folders each source holds with a file to read (for freshness checks and range defaults)."""
    files = discover(landing_dir, date.min, date.max, sources)
    return {s: sorted({f.landing_date for f in files if f.source == s}) for s in sources or tuple(LANDING_SOURCES)}


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]

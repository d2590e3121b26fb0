"""Swap the landing partitions of a window of extraction days for what the zone holds now.

Every file of a day is parsed into temp batch tables first (a file that cannot be
read is recorded, not raised), then the day's partitions are replaced in one
transaction: re-ingesting a day, or a re-delivered day, is idempotent.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb

from cx import run_days
from cx.contract import LANDING_SOURCES
from cx.ingest import csv_reader, jsonl_reader, parquet_reader
from cx.ingest.columns import lit, q
from cx.ingest.discover import DeliveredFile, IgnoredPath, day_range, survey
from cx.ingest.rejects import (
    STATUS_IGNORED,
    STATUS_LOADED,
    STATUS_UNREADABLE,
    UNREADABLE_FILE,
    UnreadableFile,
    printable,
)
from cx.warehouse import transaction

log = logging.getLogger(__name__)

SCHEMA = "landing"
LINEAGE_COLUMNS = ("_landing_date", "_file", "_line", "_raw")
PARALLEL_DAYS = 2  # extraction days parsed at once (at most DuckDB's threads)
LANDING_ZONE = "landing_zone"  # summary entry of what lies outside every source's day folders

_READERS = {"csv": csv_reader.read, "jsonl": jsonl_reader.read, "parquet": parquet_reader.read}

# Columns added after the first release are appended (ALTER TABLE ... ADD COLUMN), so a
# warehouse created by an older version is brought up to date in place.
_PARSE_REJECTS = (
    ("source", "varchar"),
    ("_landing_date", "date"),
    ("_file", "varchar"),
    ("_line", "bigint"),
    ("reason", "varchar"),
    ("raw", "varchar"),
    ("detail", "varchar"),
)
_DELIVERIES = (
    ("source", "varchar"),
    ("_landing_date", "date"),
    ("_file", "varchar"),
    ("format", "varchar"),
    ("rows_parsed", "bigint"),
    ("rows_rejected", "bigint"),
    ("status", "varchar"),
    ("reason", "varchar"),
    ("detail", "varchar"),
    ("encoding", "varchar"),
    ("delimiter", "varchar"),
    ("rows_unread", "bigint"),
)
_IGNORED_PATHS = (
    ("source", "varchar"),
    ("path", "varchar"),
    ("reason", "varchar"),
    ("detail", "varchar"),
    ("files", "bigint"),
)


def _table(con: duckdb.DuckDBPyConnection, name: str, columns: tuple[tuple[str, str], ...]) -> None:
    con.execute(f"create table if not exists {SCHEMA}.{name} ({', '.join(f'{q(c)} {t}' for c, t in columns)})")
    for column, type_ in columns:
        con.execute(f"alter table {SCHEMA}.{name} add column if not exists {q(column)} {type_}")


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the landing tables (empty when a source never arrived)."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for spec in LANDING_SOURCES.values():
        cols = ", ".join(f"{q(c)} varchar" for c in spec.columns)
        con.execute(
            f"create table if not exists {SCHEMA}.{spec.name} ({cols}, _landing_date date, "
            "_file varchar, _line bigint, _raw varchar)"
        )
        # Contract columns added since the table was created (a warehouse of an older
        # version): their earlier rows read NULL, as for a file that lacks the column.
        for column in spec.columns:
            con.execute(f"alter table {SCHEMA}.{spec.name} add column if not exists {q(column)} varchar")
    _table(con, "parse_rejects", _PARSE_REJECTS)
    _table(con, "deliveries", _DELIVERIES)
    _table(con, "ignored_paths", _IGNORED_PATHS)
    con.execute(run_days.DDL)


def _empty_summary() -> dict[str, int]:
    return {"files": 0, "rows": 0, "rejected": 0, "unreadable": 0, "ignored": 0}


def ingest_range(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    start: date,
    end: date,
    sources: tuple[str, ...] | None = None,
) -> dict[str, dict[str, int]]:
    """Replace the landing partitions [start, end] with what the landing zone holds now.

    One extraction day at a time, each in its own transaction: memory stays bounded
    by a day however long the window (an initial load of years), and each day is
    replaced whole, so an interrupted load is finished by running it again.

    Returns per source the files read, rows parsed, rows rejected, files unreadable
    and files ignored; plus a ``landing_zone`` entry (same keys) when files outside
    every source's day folders were ignored. Each ignored entry is also in
    ``landing.deliveries`` (status ignored: its day is known) or ``landing.ignored_paths``.
    """
    ensure_schema(con)
    sources = sources or tuple(LANDING_SOURCES)
    found = survey(landing_dir, start, end, sources)
    by_day: dict[date, list[DeliveredFile]] = {}
    for f in found.files:
        by_day.setdefault(f.landing_date, []).append(f)
    ignored_by_day: dict[date, list[IgnoredPath]] = {}
    undated = []
    for entry in found.ignored:
        if entry.landing_date is None:
            undated.append(entry)
        else:
            ignored_by_day.setdefault(entry.landing_date, []).append(entry)
    for entry in found.ignored:
        log.warning("ignored %s (%s): %s", entry.rel, entry.reason, entry.detail)
    days = day_range(start, end)
    # Parsing a file is single-threaded in DuckDB (parallel=false keeps line numbers),
    # so long windows parse days side by side on separate connections of this one
    # process (DuckDB releases the GIL; each day's partitions are disjoint rows).
    threads = int(con.execute("select current_setting('threads')").fetchone()[0])
    workers = max(1, min(threads, PARALLEL_DAYS, len(days)))
    # Parsing overlaps, writing does not: one day at a time swaps its partitions in,
    # so commits (and the checkpoints they trigger) never wait on each other.
    writer = threading.Lock()

    def load(share: list[date]) -> dict[str, dict[str, int]]:
        summary = {s: _empty_summary() for s in sources}
        cursor = con.cursor() if workers > 1 else con
        try:
            for day in share:
                _replace_day(cursor, day, by_day.get(day, []), ignored_by_day.get(day, []), sources, summary, writer)
        finally:
            if cursor is not con:
                cursor.close()
        return summary

    if workers == 1:
        summary = load(days)
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(load, [days[w::workers] for w in range(workers)]))
        summary = {s: {k: sum(part[s][k] for part in parts) for k in _empty_summary()} for s in sources}
    _replace_ignored_paths(con, undated, sources)
    outside = 0
    for entry in undated:
        if entry.source is None:
            outside += entry.files
        else:
            summary[entry.source]["ignored"] += entry.files
    if outside:
        summary[LANDING_ZONE] = {**_empty_summary(), "ignored": outside}
    return summary


def _replace_ignored_paths(
    con: duckdb.DuckDBPyConnection, undated: list[IgnoredPath], sources: tuple[str, ...]
) -> None:
    """The entries outside every day folder describe the zone as it is now: replaced
    whole for the sources ingested (and those of no source on a run of all sources)."""
    scope = f"source in ({', '.join(lit(s) for s in sources)})"
    if set(sources) == set(LANDING_SOURCES):
        scope += " or source is null"
    with transaction(con):
        con.execute(f"delete from {SCHEMA}.ignored_paths where {scope}")
        if undated:
            con.executemany(
                f"insert into {SCHEMA}.ignored_paths (source, path, reason, detail, files) values (?, ?, ?, ?, ?)",
                [[e.source, e.rel, e.reason, e.detail, e.files] for e in undated],
            )


def _read_file(con: duckdb.DuckDBPyConnection, f: DeliveredFile) -> list:
    """One delivery row for ``f`` (its rows are in the batch tables when it was read)."""
    batch, rejects = f"_cx_batch_{f.source}", "_cx_batch_parse_rejects"
    try:
        result = _READERS[f.fmt](con, f, batch, rejects)
    except (UnreadableFile, duckdb.Error, UnicodeError, OSError) as exc:
        # Nothing of the file is kept but this record of it: a file that cannot be
        # read does not stop the day, and its content is never quoted.
        con.execute(f"delete from {batch} where _file = ?", [f.rel])
        con.execute(f"delete from {rejects} where _file = ?", [f.rel])
        if isinstance(exc, UnreadableFile):
            detail, rows = exc.detail, exc.rows
        else:
            message = (str(exc).splitlines() or [""])[0].replace(str(f.path), f.rel)
            detail, rows = printable(f"{type(exc).__name__}: {message}"), None
        log.warning("%s is unreadable: %s", f.rel, detail)
        return [
            f.source,
            f.landing_date,
            f.rel,
            f.fmt,
            0,
            0,
            STATUS_UNREADABLE,
            UNREADABLE_FILE,
            detail,
            None,
            None,
            rows,
        ]
    detail = None if result.parsed or result.rejected else "no records (empty or header only)"
    return [
        f.source,
        f.landing_date,
        f.rel,
        f.fmt,
        result.parsed,
        result.rejected,
        STATUS_LOADED,
        None,
        detail,
        result.encoding,
        result.delimiter,
        0,
    ]


def _replace_day(
    con: duckdb.DuckDBPyConnection,
    day: date,
    files: list[DeliveredFile],
    ignored: list[IgnoredPath],
    sources: tuple[str, ...],
    summary: dict[str, dict[str, int]],
    writer: threading.Lock,
) -> None:
    tables = (*sources, "parse_rejects", "deliveries")
    # Parse every file of the day into temp batch tables first (a statement that
    # fails leaves them untouched), then swap the day's partitions in one transaction.
    for table in tables:
        con.execute(f"create or replace temp table _cx_batch_{table} as select * from {SCHEMA}.{table} limit 0")
    deliveries = []
    for f in files:
        row = _read_file(con, f)
        deliveries.append(row)
        s = summary[f.source]
        s["files"] += 1
        s["rows"] += row[4]
        s["rejected"] += row[5]
        s["unreadable"] += row[6] == STATUS_UNREADABLE
    for entry in ignored:
        deliveries.append(
            [entry.source, day, entry.rel, None, 0, 0, STATUS_IGNORED, entry.reason, entry.detail, None, None, 0]
        )
        summary[entry.source]["ignored"] += entry.files
    if deliveries:
        con.executemany(
            "insert into _cx_batch_deliveries (source, _landing_date, _file, format, rows_parsed, rows_rejected, "
            "status, reason, detail, encoding, delimiter, rows_unread) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            deliveries,
        )
    in_sources = ", ".join(lit(s) for s in sources)
    with writer, transaction(con):
        for table in tables:
            source_filter = "" if table in sources else f" and source in ({in_sources})"
            con.execute(f"delete from {SCHEMA}.{table} where _landing_date = ?{source_filter}", [day])
            con.execute(f"insert into {SCHEMA}.{table} by name select * from _cx_batch_{table}")
        run_days.record(con, day)  # arrivals or not: the day was processed
    for table in tables:
        con.execute(f"drop table if exists _cx_batch_{table}")

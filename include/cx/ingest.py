"""Landing zone -> ``landing`` schema: every delivered row, verbatim, with lineage.

DuckDB's own readers parse each file (CSV, JSONL, Parquet); this module only maps
the file's columns onto the contract (case-insensitive, trimmed; absent optional
columns become NULL; extra columns stay in ``_raw``) and records where each row came
from (``_file``, ``_line``). Rows that cannot be parsed at all go to
``landing.parse_rejects`` with the reason, so landing rows = parsed + rejected.

Partitions are keyed by the extraction day (the date folder) and replaced as a
whole, so re-ingesting a day, or a re-delivered day, is idempotent.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from cx import run_days
from cx.contract import FILE_FORMATS, LANDING_SOURCES, SourceSpec

log = logging.getLogger(__name__)

SCHEMA = "landing"
LINEAGE_COLUMNS = ("_landing_date", "_file", "_line", "_raw")
PARALLEL_DAYS = 2  # extraction days parsed at once (at most DuckDB's threads)


@dataclass(frozen=True)
class DeliveredFile:
    source: str
    landing_date: date
    path: Path
    fmt: str


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def discover(landing_dir: Path, start: date, end: date, sources: tuple[str, ...] | None = None) -> list[DeliveredFile]:
    """Files of ``sources`` whose date folder lies in [start, end], in a stable order."""
    found: list[DeliveredFile] = []
    for source in sources or tuple(LANDING_SOURCES):
        source_dir = landing_dir / source
        if not source_dir.is_dir():
            continue
        for day_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
            try:
                day = date.fromisoformat(day_dir.name)
            except ValueError:
                log.warning("ignoring %s: folder name is not a YYYY-MM-DD date", day_dir)
                continue
            if not start <= day <= end:
                continue
            for path in sorted(day_dir.iterdir()):
                fmt = FILE_FORMATS.get(path.suffix.lower())
                if path.is_file() and fmt and not path.name.startswith((".", "_")):
                    found.append(DeliveredFile(source, day, path, fmt))
    return found


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the landing tables (empty when a source never arrived)."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for spec in LANDING_SOURCES.values():
        cols = ", ".join(f"{_q(c)} varchar" for c in spec.columns)
        con.execute(
            f"create table if not exists {SCHEMA}.{spec.name} ({cols}, _landing_date date, "
            "_file varchar, _line bigint, _raw varchar)"
        )
    con.execute(
        f"create table if not exists {SCHEMA}.parse_rejects (source varchar, _landing_date date, "
        "_file varchar, _line bigint, reason varchar, raw varchar)"
    )
    con.execute(
        f"create table if not exists {SCHEMA}.deliveries (source varchar, _landing_date date, "
        "_file varchar, format varchar, rows_parsed bigint, rows_rejected bigint)"
    )
    con.execute(run_days.DDL)


def _column_map(file_columns: list[str], spec: SourceSpec) -> dict[str, str | None]:
    """Contract column -> the file's column name (matched trimmed, case-insensitively)."""
    by_key = {c.strip().lower(): c for c in file_columns}
    return {c: by_key.get(c) for c in spec.columns}


def _projection(mapping: dict[str, str | None], expr_for) -> str:
    return ", ".join(
        f"{expr_for(src)} as {_q(col)}" if src is not None else f"null::varchar as {_q(col)}"
        for col, src in mapping.items()
    )


def _bom_encoding(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def _read_csv_file(con, path: Path, encoding: str) -> list[str]:
    """Parse ``path`` into temp table _cx_file and its rejected records into _cx_reject_lines
    (one row per bad record: line, error code such as too_many_columns, raw line); returns
    the error codes."""
    reader = (
        f"read_csv({_lit(str(path))}, all_varchar=true, header=true, auto_detect=true, "
        "strict_mode=true, store_rejects=true, rejects_scan='_cx_scan', rejects_table='_cx_rejects', "
        f"normalize_names=false, encoding={_lit(encoding)}, parallel=false)"
    )
    con.execute("drop table if exists _cx_scan; drop table if exists _cx_rejects")
    con.execute(f"create or replace temp table _cx_file as select * from {reader}")
    if not con.execute("select count(*) from duckdb_tables() where table_name = '_cx_rejects'").fetchone()[0]:
        con.execute("create or replace temp table _cx_reject_lines (line bigint, reason varchar, raw varchar)")
        return []
    # The reason is DuckDB's error type as a code (too_many_columns, missing_columns,
    # invalid_encoding...), so quarantine counts group by it; the raw line is kept.
    # DuckDB may report several errors per record: one row each, the first column's.
    con.execute(
        """
        create or replace temp table _cx_reject_lines as
        select line, arg_min(replace(lower(error_type::varchar), ' ', '_'), coalesce(column_idx, -1)) as reason,
               arg_min(csv_line, coalesce(column_idx, -1)) as raw
        from _cx_rejects group by line
        """
    )
    return [r[0] for r in con.execute("select distinct reason from _cx_reject_lines").fetchall()]


def _insert_csv(con, f: DeliveredFile, rel: str) -> tuple[int, int]:
    # UTF-8 unless a byte-order mark says UTF-16. A file that is not valid UTF-8 is
    # read again as Latin-1 (every byte is a character there), the usual encoding of
    # older European exports: its rows are kept, not rejected as undecodable.
    encoding = _bom_encoding(f.path) or "utf-8"
    try:
        undecodable = "invalid_encoding" in _read_csv_file(con, f.path, encoding)
    except duckdb.InvalidInputException as error:
        if "unicode" not in str(error).lower() or encoding != "utf-8":
            raise
        undecodable = True
    if undecodable:
        log.info("%s is not UTF-8: read as Latin-1", rel)
        _read_csv_file(con, f.path, "latin-1")
    columns = [r[0] for r in con.execute("describe _cx_file").fetchall()]
    parsed, rejected = con.execute(
        "select (select count(*) from _cx_file), (select count(*) from _cx_reject_lines)"
    ).fetchone()
    # DuckDB numbers records with the header as line 1; accepted rows take the
    # record numbers that were not rejected, in file order (without rejects: 1 + row number).
    if rejected:
        numbered = f"""
            (select * from (select *, row_number() over () as _rn from _cx_file)
             join (select l as _line, row_number() over (order by l) as _rn
                   from range(2, {parsed + rejected + 2}) t(l) anti join _cx_reject_lines on l = line) using (_rn))"""
    else:
        numbered = "(select *, row_number() over () + 1 as _line from _cx_file)"
    mapping = _column_map(columns, LANDING_SOURCES[f.source])
    con.execute(
        f"""
        insert into _cx_batch_{f.source}
        select {_projection(mapping, lambda c: f"nullif(trim({_q(c)}), '')")},
               {_lit(f.landing_date.isoformat())}::date, {_lit(rel)}, _line,
               to_json(struct_pack({", ".join(f"{_q(c)} := {_q(c)}" for c in columns)}))::varchar
        from {numbered}
        """
    )
    if rejected:
        con.execute(
            f"""
            insert into _cx_batch_parse_rejects
            select {_lit(f.source)}, {_lit(f.landing_date.isoformat())}::date, {_lit(rel)}, line,
                   'unparseable: ' || reason, raw
            from _cx_reject_lines order by line
            """
        )
    return parsed, rejected


def _insert_jsonl(con, f: DeliveredFile, rel: str) -> tuple[int, int]:
    # Read lines as text so a malformed line is a reject with its line number,
    # not a silent skip or a failed file.
    con.execute(
        f"""
        create or replace temp table _cx_lines as
        select line_no as _line, line
        from (select unnest(lines) as line, unnest(range(1, len(lines) + 1)) as line_no
              from (select string_split(replace(content, chr(13), ''), chr(10)) as lines
                    from read_text({_lit(str(f.path))})))
        where trim(line) <> ''
        """
    )
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(line::json)) from _cx_lines "
            "where coalesce(json_type(try_cast(line as json)) = 'OBJECT', false) order by 1"
        ).fetchall()
    ]
    # Keys match the contract trimmed and case-insensitively, line by line (one line
    # may say "Event_ID", the next "event_id"). One JSON parse per line: every
    # matching key is extracted in one list.
    contract = set(LANDING_SOURCES[f.source].columns)
    present = [k for k in keys if k.strip().lower() in contract]
    variants = {c: [i + 1 for i, k in enumerate(present) if k.strip().lower() == c] for c in contract}
    mapping = {c: c if variants[c] else None for c in LANDING_SOURCES[f.source].columns}
    paths = "[" + ", ".join(_lit("$." + _q(k)) for k in present) + "]" if present else "[]::varchar[]"
    expr = lambda c: "nullif(trim(coalesce(" + ", ".join(f"_values[{i}]" for i in variants[c]) + ")), '')"  # noqa: E731
    valid = "coalesce(json_type(try_cast(line as json)) = 'OBJECT', false)"
    con.execute(
        f"""
        insert into _cx_batch_{f.source}
        select {_projection(mapping, expr)}, {_lit(f.landing_date.isoformat())}::date,
               {_lit(rel)}, _line, line
        from (select _line, line, json_extract_string(line, {paths}) as _values from _cx_lines where {valid})
        """
    )
    con.execute(
        f"""
        insert into _cx_batch_parse_rejects
        select {_lit(f.source)}, {_lit(f.landing_date.isoformat())}::date, {_lit(rel)}, _line,
               'unparseable: not_a_json_object', line
        from _cx_lines where not ({valid})
        """
    )
    parsed, rejected = con.execute(
        f"select count(*) filter (where {valid}), count(*) filter (where not ({valid})) from _cx_lines"
    ).fetchone()
    return parsed, rejected


def _insert_parquet(con, f: DeliveredFile, rel: str) -> tuple[int, int]:
    reader = f"read_parquet({_lit(str(f.path))}, file_row_number=true)"
    columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall() if r[0] != "file_row_number"]
    mapping = _column_map(columns, LANDING_SOURCES[f.source])
    con.execute(
        f"""
        insert into _cx_batch_{f.source}
        select {_projection(mapping, lambda c: f"nullif(trim({_q(c)}::varchar), '')")},
               {_lit(f.landing_date.isoformat())}::date, {_lit(rel)}, file_row_number + 1,
               to_json(struct_pack({", ".join(f"{_q(c)} := {_q(c)}" for c in columns)}))::varchar
        from {reader}
        """
    )
    return con.execute(f"select count(*) from {reader}").fetchone()[0], 0


_READERS = {"csv": _insert_csv, "jsonl": _insert_jsonl, "parquet": _insert_parquet}


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

    Returns per source the files, parsed rows and rejected rows ingested.
    """
    ensure_schema(con)
    sources = sources or tuple(LANDING_SOURCES)
    files = discover(landing_dir, start, end, sources)
    by_day: dict[date, list[DeliveredFile]] = {}
    for f in files:
        by_day.setdefault(f.landing_date, []).append(f)
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
        summary = {s: {"files": 0, "rows": 0, "rejected": 0} for s in sources}
        cursor = con.cursor() if workers > 1 else con
        try:
            for day in share:
                _replace_day(cursor, landing_dir, day, by_day.get(day, []), sources, summary, writer)
        finally:
            if cursor is not con:
                cursor.close()
        return summary

    if workers == 1:
        return load(days)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(load, [days[w::workers] for w in range(workers)]))
    return {s: {k: sum(part[s][k] for part in parts) for k in ("files", "rows", "rejected")} for s in sources}


def _replace_day(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    day: date,
    files: list[DeliveredFile],
    sources: tuple[str, ...],
    summary: dict[str, dict[str, int]],
    writer: threading.Lock,
) -> None:
    tables = (*sources, "parse_rejects", "deliveries")
    # Parse every file of the day into temp batch tables first (a statement that
    # fails leaves them untouched), then swap the day's partitions in one transaction.
    for table in tables:
        con.execute(f"create or replace temp table _cx_batch_{table} as select * from {SCHEMA}.{table} limit 0")
    for f in files:
        rel = str(f.path.relative_to(landing_dir))
        try:
            parsed, rejected = _READERS[f.fmt](con, f, rel)
        except duckdb.Error as exc:
            # A file DuckDB cannot read at all (binary garbage, wrong encoding):
            # one reject row that names it, instead of a failed run.
            con.execute(f"delete from _cx_batch_{f.source} where _file = ?", [rel])
            con.execute("delete from _cx_batch_parse_rejects where _file = ?", [rel])
            parsed, rejected = 0, 1
            con.execute(
                "insert into _cx_batch_parse_rejects values (?, ?, ?, 0, ?, null)",
                [f.source, f.landing_date, rel, f"unreadable file: {str(exc).splitlines()[0][:400]}"],
            )
        con.execute(
            "insert into _cx_batch_deliveries values (?, ?, ?, ?, ?, ?)",
            [f.source, f.landing_date, rel, f.fmt, parsed, rejected],
        )
        s = summary[f.source]
        s["files"] += 1
        s["rows"] += parsed
        s["rejected"] += rejected
    in_sources = ", ".join(_lit(s) for s in sources)
    with writer:
        con.execute("begin transaction")
        try:
            for table in tables:
                source_filter = "" if table in sources else f" and source in ({in_sources})"
                con.execute(f"delete from {SCHEMA}.{table} where _landing_date = ?{source_filter}", [day])
                con.execute(f"insert into {SCHEMA}.{table} select * from _cx_batch_{table}")
            run_days.record(con, day)  # arrivals or not: the day was processed
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    for table in tables:
        con.execute(f"drop table if exists _cx_batch_{table}")


def landed_days(landing_dir: Path, sources: tuple[str, ...] | None = None) -> dict[str, list[date]]:
    """The date folders each source holds (for freshness checks and range defaults)."""
    days: dict[str, list[date]] = {}
    for source in sources or tuple(LANDING_SOURCES):
        files = discover(landing_dir, date.min, date.max, (source,))
        days[source] = sorted({f.landing_date for f in files})
    return days


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]

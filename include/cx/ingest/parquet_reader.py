"""Parquet -> the landing batch tables: typed columns written as canonical text.

The landing tables hold text, as a CSV export would: integers and decimals as
written ("12.50"), booleans as true/false, dates as YYYY-MM-DD, timestamps as
'YYYY-MM-DD HH:MM:SS[.ffffff]' (a timestamp with a time zone converted to UTC first,
so the session's time zone never changes a value), binary as UTF-8 text. A struct,
list or map in a contract column is not one value: the row is rejected as
``nested_value``. A file that is not Parquet, or whose data pages are damaged, is
unreadable (its row count kept when the footer still gives it).
"""

from __future__ import annotations

import duckdb

from cx.contract import LANDING_SOURCES
from cx.ingest.columns import column_map, lit, projection, q
from cx.ingest.discover import DeliveredFile
from cx.ingest.rejects import UNPARSEABLE_PREFIX, FileResult, RecordReason, UnreadableFile, printable

_NESTED = ("STRUCT", "MAP", "UNION")


def _nested(duck_type: str) -> bool:
    return duck_type.upper().startswith(_NESTED) or duck_type.endswith("]")


def _as_text(column: str, duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"timezone('UTC', {q(column)})::varchar"
    return f"{q(column)}::varchar"


def _row_count(con: duckdb.DuckDBPyConnection, path: str) -> int | None:
    try:
        return con.execute(f"select sum(num_rows)::bigint from parquet_file_metadata({lit(path)})").fetchone()[0]
    except duckdb.Error:
        return None


def read(con: duckdb.DuckDBPyConnection, f: DeliveredFile, batch: str, rejects_batch: str) -> FileResult:
    path = str(f.path)
    reader = f"read_parquet({lit(path)}, file_row_number=true, binary_as_string=true)"
    try:
        described = con.execute(f"describe select * from {reader}").fetchall()
        types = {r[0]: r[1] for r in described if r[0] != "file_row_number"}
        con.execute(f"create or replace temp table _cx_file as select * from {reader}")
    except duckdb.Error as exc:
        first = printable(str(exc).splitlines()[0].replace(path, f.rel))
        raise UnreadableFile(f"not a readable Parquet file ({first})", _row_count(con, path)) from None
    columns = list(types)
    mapping = column_map(columns, LANDING_SOURCES[f.source])
    nested = [src for src in mapping.values() if src is not None and _nested(types[src])]
    bad = " or ".join(f"{q(c)} is not null" for c in nested) or "false"
    raw = "to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in columns) + "))::varchar"
    day = lit(f.landing_date.isoformat())
    con.execute(
        f"""
        insert into {batch} by name
        select {projection(mapping, lambda c: f"nullif(trim({_as_text(c, types[c])}), '')")},
               {day}::date as _landing_date, {lit(f.rel)} as _file, file_row_number + 1 as _line, {raw} as _raw
        from _cx_file where not ({bad})
        """
    )
    if nested:
        detail = "a struct, list or map where one value belongs: " + ", ".join(nested)
        con.execute(
            f"""
            insert into {rejects_batch} by name
            select {lit(f.source)} as source, {day}::date as _landing_date, {lit(f.rel)} as _file,
                   file_row_number + 1 as _line, {lit(UNPARSEABLE_PREFIX + RecordReason.NESTED_VALUE)} as reason,
                   {lit(detail)} as detail, {raw} as raw
            from _cx_file where {bad}
            """
        )
    total, rejected = con.execute(f"select count(*), count(*) filter (where {bad}) from _cx_file").fetchone()
    con.execute("drop table if exists _cx_file")
    return FileResult(parsed=total - rejected, rejected=rejected, encoding=None)

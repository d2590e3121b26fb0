"""JSON lines -> the landing batch tables: one object per line, keys matched by name.

Lines are read as text, so a malformed line is a reject with its line number, not a
silent skip or a failed file. A ``.json`` file holding one JSON array is read as its
elements (``_line`` = the element's number). A contract column holding an object or an array (an
e-mail that is a JSON object) is not one value: the line is rejected as
``nested_value`` (extra keys may hold anything). Files that are not plain UTF-8
(compressed, UTF-16, Windows-1252) are decoded first (cx.ingest.text).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from cx.contract import LANDING_SOURCES
from cx.ingest.columns import lit, projection, q
from cx.ingest.discover import DeliveredFile
from cx.ingest.rejects import UNPARSEABLE_PREFIX, FileResult, RecordReason, UnreadableFile
from cx.ingest.text import Lines, sniff


def _as_utf8(lines: Lines, folder: str) -> Path:
    out = Path(folder) / "lines.jsonl"
    with out.open("w", encoding="utf-8", newline="") as handle:
        for line in lines:
            handle.write(line)
    return out


def read(con: duckdb.DuckDBPyConnection, f: DeliveredFile, batch: str, rejects_batch: str) -> FileResult:
    shape = sniff(f.path, f.compressed)  # raises UnreadableFile
    result = FileResult(encoding=shape.encoding)
    with tempfile.TemporaryDirectory(prefix="cx_ingest_") as folder:
        path = f.path
        if not shape.plain_utf8:
            lines = Lines(f.path, shape)
            path = _as_utf8(lines, folder)
            result.encoding = lines.encoding
        try:
            _lines(con, path)
        except duckdb.InvalidInputException as exc:
            if "utf" not in str(exc).lower() and "unicode" not in str(exc).lower():
                raise
            lines = Lines(f.path, shape)  # invalid UTF-8 somewhere: decode line by line
            path = _as_utf8(lines, folder)
            result.encoding = lines.encoding
            _lines(con, path)
        result.parsed, result.rejected = _insert(con, f, batch, rejects_batch)
        con.execute("drop table if exists _cx_lines")
    return result


def _is_array(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    if _is_array(path):
        # A JSON array export ([{...}, {...}]): its elements are the records and
        # _line their number. An array that does not parse is an unreadable file.
        try:
            con.execute(
                f"""
                create or replace temp table _cx_lines as
                select unnest(range(1, len(items) + 1)) as _line, unnest(items)::varchar as line
                from (select content::json->'$[*]' as items from read_text({lit(str(path))}))
                """
            )
        except duckdb.InvalidInputException as exc:
            if "utf" in str(exc).lower() or "unicode" in str(exc).lower():
                raise
            raise UnreadableFile("a JSON array that does not parse") from None
        return
    con.execute(
        f"""
        create or replace temp table _cx_lines as
        select line_no as _line, line
        from (select unnest(lines) as line, unnest(range(1, len(lines) + 1)) as line_no
              from (select string_split(replace(content, chr(13), ''), chr(10)) as lines
                    from read_text({lit(str(path))})))
        where trim(line) <> ''
        """
    )


def _insert(con: duckdb.DuckDBPyConnection, f: DeliveredFile, batch: str, rejects_batch: str) -> tuple[int, int]:
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(line::json)) from _cx_lines "
            "where coalesce(json_type(try_cast(line as json)) = 'OBJECT', false) order by 1"
        ).fetchall()
    ]
    # Keys match the contract trimmed and case-insensitively, line by line (one line
    # may say "Event_ID", the next "event_id"). One JSON parse per line: every
    # matching key is extracted (and typed) in one list.
    spec = LANDING_SOURCES[f.source]
    contract = set(spec.columns)
    present = [k for k in keys if k.strip().lower() in contract]
    variants = {c: [i + 1 for i, k in enumerate(present) if k.strip().lower() == c] for c in contract}
    mapping = {c: c if variants[c] else None for c in spec.columns}
    paths = "[" + ", ".join(lit("$." + q(k)) for k in present) + "]" if present else "[]::varchar[]"
    expr = lambda c: "nullif(trim(coalesce(" + ", ".join(f"_values[{i}]" for i in variants[c]) + ")), '')"  # noqa: E731
    nested = (
        " or ".join(f"coalesce(_types[{i + 1}] in ('OBJECT', 'ARRAY'), false)" for i in range(len(present))) or "false"
    )
    nested_keys = (
        "concat_ws(', ', "
        + ", ".join(
            f"case when _types[{i + 1}] in ('OBJECT', 'ARRAY') then {lit(k)} end" for i, k in enumerate(present)
        )
        + ")"
        if present
        else "''"
    )
    con.execute(
        f"""
        create or replace temp table _cx_json as
        select _line, line, json_extract_string(line, {paths}) as _values, json_type(line, {paths}) as _types
        from _cx_lines where coalesce(json_type(try_cast(line as json)) = 'OBJECT', false)
        """
    )
    con.execute(
        f"""
        insert into {batch} by name
        select {projection(mapping, expr)}, {lit(f.landing_date.isoformat())}::date as _landing_date,
               {lit(f.rel)} as _file, _line, line as _raw
        from _cx_json where not ({nested})
        """
    )
    con.execute(
        f"""
        insert into {rejects_batch} by name
        select {lit(f.source)} as source, {lit(f.landing_date.isoformat())}::date as _landing_date,
               {lit(f.rel)} as _file, _line, reason, detail, line as raw
        from (
            select _line, line, {lit(UNPARSEABLE_PREFIX + RecordReason.NOT_A_JSON_OBJECT)} as reason,
                   'the line is not one JSON object' as detail
            from _cx_lines where not coalesce(json_type(try_cast(line as json)) = 'OBJECT', false)
            union all
            select _line, line, {lit(UNPARSEABLE_PREFIX + RecordReason.NESTED_VALUE)},
                   'an object or array where one value belongs: ' || {nested_keys}
            from _cx_json where {nested}
        )
        """
    )
    total, parsed = con.execute(
        f"select (select count(*) from _cx_lines), (select count(*) from _cx_json where not ({nested}))"
    ).fetchone()
    con.execute("drop table if exists _cx_json")
    return parsed, total - parsed

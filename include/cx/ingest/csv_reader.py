"""Delimited text (CSV, TSV, semicolon exports, .txt) -> the landing batch tables.

The dialect is not left to a sniffer (which, faced with one unterminated quote,
falls back to no quoting and breaks every row): the delimiter is the one the header
line uses (comma, semicolon, tab or pipe) and quoting is always RFC 4180 (double
quotes, doubled to escape, newlines allowed inside). A clean UTF-8 file is read by
DuckDB directly; any other file (another encoding, compressed, or one DuckDB finds a
single bad record in) is parsed here record by record and handed to DuckDB
normalised, so that only the broken records are rejected:

- a record with the wrong number of fields is rejected whole;
- a quote that never closes (or closes into text) is the broken record: its first
  line is rejected and reading resumes on the next line.

A first line ``sep=;`` (Excel's way of declaring the delimiter) sets the delimiter
and is not a record.

``_line`` is the record's number (the header is 1; blank lines are not records).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import deque
from pathlib import Path

import duckdb

from cx.contract import LANDING_SOURCES
from cx.ingest.columns import column_map, lit, projection, q, unique_names
from cx.ingest.discover import DeliveredFile
from cx.ingest.rejects import UNPARSEABLE_PREFIX, FileResult, RecordReason
from cx.ingest.text import Lines, TextShape, sniff

DELIMITERS = (",", ";", "\t", "|")
MAX_RECORD_LINES = 10_000  # a quoted field longer than this is taken for an unterminated quote
MAX_RECORD_CHARS = 2_000_000


def _still_quoted(line: str, delimiter: str, quoted: bool) -> bool:
    """Whether a quoted field is still open at the end of ``line`` (RFC 4180: a quote
    opens a field only at its start; inside, a doubled quote is a literal quote)."""
    i = line.find('"')
    while i != -1:
        if quoted:
            if line.startswith('"', i + 1):
                i = line.find('"', i + 2)
                continue
            quoted = False
        elif i == 0 or line[i - 1] == delimiter:
            quoted = True
        i = line.find('"', i + 1)
    return quoted


def _delimiter(header: str, default: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts.values())
    if best == 0 or counts.get(default, 0) == best:
        return default
    return next(d for d in DELIMITERS if counts[d] == best)


def _declared_delimiter(line: str) -> str | None:
    """The delimiter a first line 'sep=;' declares (Excel writes it in European exports)."""
    text = line.strip()
    if len(text) == 5 and text[:4].lower() == "sep=":
        return text[4]
    return None


def _strip_break(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


class _Parsed:
    """Where the records of one file went: a normalised CSV (``_line`` first) and a
    CSV of rejects, both written under ``folder``."""

    def __init__(self, folder: str) -> None:
        self.rows_path = os.path.join(folder, "rows.csv")
        self.rejects_path = os.path.join(folder, "rejects.csv")
        self.header: list[str] | None = None
        self.parsed = 0
        self.rejected = 0


def _parse(lines: Lines, delimiter_default: str, out: _Parsed) -> str:
    """Parse every record of ``lines``; returns the delimiter used."""
    source = iter(lines)
    pushback: deque[str] = deque()
    delimiter = delimiter_default
    declared = False
    record_no = 0
    with (
        open(out.rows_path, "w", newline="", encoding="utf-8") as rows_fh,
        open(out.rejects_path, "w", newline="", encoding="utf-8") as rejects_fh,
    ):
        # CRLF: the writer then quotes every value holding a CR or LF, which DuckDB
        # would otherwise read as the end of the record.
        rows = csv.writer(rows_fh, lineterminator="\r\n")
        rejects = csv.writer(rejects_fh, lineterminator="\r\n")
        rejects.writerow(["line", "reason", "detail", "raw"])

        def reject(reason: str, detail: str, raw: str) -> None:
            out.rejected += 1
            rejects.writerow([record_no, UNPARSEABLE_PREFIX + reason, detail, _strip_break(raw)])

        while True:
            line = pushback.popleft() if pushback else next(source, None)
            if line is None:
                break
            if not line.strip():
                continue
            if out.header is None and _declared_delimiter(line):
                delimiter, declared = _declared_delimiter(line), True
                continue
            if out.header is None and not declared:
                delimiter = _delimiter(line, delimiter_default)
            pending = [line]
            size = len(line)
            quoted = _still_quoted(line, delimiter, False)
            while quoted and len(pending) < MAX_RECORD_LINES and size < MAX_RECORD_CHARS:
                more = pushback.popleft() if pushback else next(source, None)
                if more is None:
                    break
                pending.append(more)
                size += len(more)
                quoted = _still_quoted(more, delimiter, True)
            record_no += 1
            if quoted:
                reject(
                    RecordReason.UNTERMINATED_QUOTE,
                    "a quoted field never closes: this line is skipped, reading resumes on the next",
                    pending[0],
                )
                pushback.extendleft(reversed(pending[1:]))
                continue
            text = _strip_break("".join(pending))
            try:
                fields = next(csv.reader((text,), delimiter=delimiter, strict=out.header is not None))
            except csv.Error as exc:
                if "new-line" in str(exc) and len(pending) == 1:
                    reject(RecordReason.STRAY_LINE_BREAK, "a carriage return inside an unquoted field", text)
                    continue
                reject(
                    RecordReason.MALFORMED_QUOTE,
                    f"{exc}: this line is skipped, reading resumes on the next",
                    pending[0],
                )
                pushback.extendleft(reversed(pending[1:]))
                continue
            if out.header is None:
                out.header = fields
                rows.writerow(["_line", *(f"c{i}" for i in range(len(fields)))])
                continue
            if len(fields) != len(out.header):
                many = len(fields) > len(out.header)
                reason = RecordReason.TOO_MANY_COLUMNS if many else RecordReason.MISSING_COLUMNS
                reject(reason, f"expected {len(out.header)} fields, found {len(fields)}", text)
                continue
            out.parsed += 1
            rows.writerow([record_no, *fields])
    return delimiter


def _columns_struct(n: int, with_line: bool) -> str:
    cols = (["'_line': 'BIGINT'"] if with_line else []) + [f"'c{i}': 'VARCHAR'" for i in range(n)]
    return "{" + ", ".join(cols) + "}"


def _reader(path: str, n: int, delimiter: str, with_line: bool, rejects: bool) -> str:
    options = (
        f"columns={_columns_struct(n, with_line)}, auto_detect=false, header=true, delim={lit(delimiter)}, "
        "quote='\"', escape='\"', strict_mode=true, parallel=false"
    )
    if rejects:
        options += ", store_rejects=true, rejects_scan='_cx_scan', rejects_table='_cx_rejects'"
    return f"read_csv({lit(path)}, {options})"


def _fast(con: duckdb.DuckDBPyConnection, path: Path, n: int, delimiter: str) -> bool:
    """DuckDB reads a clean UTF-8 file itself; False (nothing kept) at the first bad record."""
    con.execute("drop table if exists _cx_scan; drop table if exists _cx_rejects")
    try:
        con.execute(
            "create or replace temp table _cx_file as select row_number() over () + 1 as _line, * "
            f"from {_reader(str(path), n, delimiter, False, True)}"
        )
    except duckdb.Error:
        return False
    bad = con.execute("select count(*) from _cx_rejects").fetchone()[0]
    return bad == 0


def _quotes_balanced(path: Path) -> bool:
    # DuckDB drops the rest of the file without a reject when a quote opened in it
    # never closes: such a file (an odd number of quotes) is parsed here instead.
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b'"')
    return count % 2 == 0


def _first_line(lines: Lines) -> str | None:
    for line in lines:
        return line
    return None


def read(con: duckdb.DuckDBPyConnection, f: DeliveredFile, batch: str, rejects_batch: str) -> FileResult:
    shape: TextShape = sniff(f.path, f.compressed)  # raises UnreadableFile
    lines = Lines(f.path, shape)
    default = "\t" if f.path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
    first = _first_line(lines)
    result = FileResult(encoding=shape.encoding)
    if first is None:
        return result
    with tempfile.TemporaryDirectory(prefix="cx_ingest_") as folder:
        header: list[str] | None = None
        fast = False
        simple_header = (
            first.strip()
            and not _declared_delimiter(first)
            and not _still_quoted(first, _delimiter(first, default), False)
        )
        if shape.plain_utf8 and simple_header and _quotes_balanced(f.path):
            delimiter = _delimiter(first, default)
            header = next(csv.reader((_strip_break(first),), delimiter=delimiter))
            fast = _fast(con, f.path, len(header), delimiter)
        if fast:
            parsed, rejected = con.execute("select count(*) from _cx_file").fetchone()[0], 0
            con.execute(
                "create or replace temp table _cx_reject_lines "
                "(line bigint, reason varchar, detail varchar, raw varchar)"
            )
        else:
            out = _Parsed(folder)
            delimiter = _parse(lines, default, out)
            result.encoding = lines.encoding
            header = out.header or []
            con.execute(
                f"create or replace temp table _cx_file as select * from "
                f"{_reader(out.rows_path, len(header), ',', True, False)}"
            )
            con.execute(
                "create or replace temp table _cx_reject_lines as select * from read_csv("
                f"{lit(out.rejects_path)}, columns={{'line': 'BIGINT', 'reason': 'VARCHAR', 'detail': 'VARCHAR', "
                "'raw': 'VARCHAR'}, auto_detect=false, header=true, delim=',', quote='\"', escape='\"')"
            )
            parsed, rejected = out.parsed, out.rejected
        result.delimiter = delimiter
        names = unique_names(header)
        by_name = {name: f"c{i}" for i, name in enumerate(names)}
        mapping = column_map(names, LANDING_SOURCES[f.source])
        raw = "to_json(struct_pack(" + ", ".join(f"{q(n)} := c{i}" for i, n in enumerate(names)) + "))::varchar"
        if not names:
            raw = "'{}'"
        con.execute(
            f"""
            insert into {batch} by name
            select {projection(mapping, lambda c: f"nullif(trim({by_name[c]}), '')")},
                   {lit(f.landing_date.isoformat())}::date as _landing_date, {lit(f.rel)} as _file,
                   _line, {raw} as _raw
            from _cx_file
            """
        )
        con.execute(
            f"""
            insert into {rejects_batch} by name
            select {lit(f.source)} as source, {lit(f.landing_date.isoformat())}::date as _landing_date,
                   {lit(f.rel)} as _file, line as _line, reason, detail, raw
            from _cx_reject_lines
            """
        )
        con.execute("drop table if exists _cx_file; drop table if exists _cx_reject_lines")
    result.parsed, result.rejected = parsed, rejected
    return result

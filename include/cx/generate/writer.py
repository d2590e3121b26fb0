"""File layout of one delivery and the writing of CSV, JSONL and Parquet files.

Most deliveries are one CSV file; some are JSONL or Parquet, some are split in
parts. Headers sometimes change case or gain surrounding spaces, some files carry
an extra unknown column and some lack an optional column, all as the contract allows.
All values are written as strings (or null), exactly as an export would hold them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

MAX_ROWS_PER_FILE = 500_000
FORMAT_P = {"csv": 0.8, "jsonl": 0.1, "parquet": 0.1}
EXT = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
# Optional columns a delivery may lack (chosen so that no planted signal disappears).
DROPPABLE = {
    "customers": ("gender", "birth_date", "region"),
    "products": ("description", "brand"),
    "orders": ("currency",),
    "order_items": (),
    "web_events": ("device",),
    "reviews": ("title",),
    "support_tickets": ("channel",),
}
EXTRA_COLUMNS = ("_export_batch", "source_system", "Row_Hash", "exported_by")


@dataclass
class FilePlan:
    name: str
    fmt: str
    start: int
    stop: int
    dropped: str | None
    extra: str | None
    header_style: str  # canonical | upper | title | padded


def plan_files(rng: np.random.Generator, source: str, day_label: str, n: int, vary: bool) -> list[FilePlan]:
    """How a delivery of ``n`` rows is split into files and what each file looks like."""
    parts = max(int(np.ceil(n / MAX_ROWS_PER_FILE)), 1)
    if vary and n >= 20:
        parts = max(parts, int(rng.choice([1, 2, 3], p=[0.85, 0.1, 0.05])))
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    plans = []
    for k in range(parts):
        fmt = str(rng.choice(list(FORMAT_P), p=list(FORMAT_P.values()))) if vary else "csv"
        name = f"{source}_{day_label}" + (f"_part{k + 1}" if parts > 1 else "") + EXT[fmt]
        dropped = extra = None
        style = "canonical"
        if vary:
            if DROPPABLE[source] and rng.random() < 0.10:
                dropped = str(rng.choice(DROPPABLE[source]))
            if rng.random() < 0.10:
                extra = str(rng.choice(EXTRA_COLUMNS))
            if rng.random() < 0.15:
                style = str(rng.choice(["upper", "title", "padded"]))
        plans.append(FilePlan(name, fmt, int(bounds[k]), int(bounds[k + 1]), dropped, extra, style))
    return plans


def header(rng: np.random.Generator, names: list[str], style: str) -> list[str]:
    if style == "upper":
        return [c.upper() for c in names]
    if style == "title":
        return [c.title() for c in names]
    if style == "padded":  # spaces around some names; matching trims them
        pads = ("", " ", "  ")
        return [pads[int(rng.integers(0, 3))] + c + pads[int(rng.integers(0, 2))] for c in names]
    return list(names)


def write_file(path: Path, fmt: str, names: list[str], columns: list[np.ndarray], raw: np.ndarray) -> int:
    """Write rows (``raw[i]`` set = a broken line written verbatim instead). Returns records written."""
    n = int(raw.shape[0])
    good = np.flatnonzero(raw == None)  # noqa: E711
    # From lists: pyarrow converts a list of str several times faster than an object array.
    table = pa.table(
        {name: pa.array(col[good].tolist(), type=pa.string()) for name, col in zip(names, columns, strict=False)}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="snappy")
        return table.num_rows
    bad = np.flatnonzero(raw != None)  # noqa: E711
    if fmt == "csv":
        out = io.BytesIO()
        pacsv.write_csv(table.slice(0, 0), out)  # header only
        done = 0
        for b in bad:
            # rows before this broken line are the good rows with index < b
            upto = int(np.searchsorted(good, b))
            _csv_rows(out, table.slice(done, upto - done))
            out.write(str(raw[b]).encode() + b"\n")
            done = upto
        _csv_rows(out, table.slice(done))
        path.write_bytes(out.getvalue())
        return n
    lines = _json_lines(names, columns)
    for b in bad:
        lines[b] = str(raw[b])
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return n


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return encode_basestring(value)
    return json.dumps(value, ensure_ascii=False)


def _json_lines(names: list[str], columns: list[np.ndarray]) -> list[str]:
    """``json.dumps(dict(zip(names, row)), ensure_ascii=False)`` per row, column-wise.

    Encoding each column once and filling a template is several times faster than one
    ``json.dumps`` per row, with the very same text (same encoder, same separators).
    """
    if len(set(names)) != len(names):  # a dict would keep the last value: leave it to json
        return [
            json.dumps(dict(zip(names, row, strict=False)), ensure_ascii=False)
            for row in zip(*(c.tolist() for c in columns), strict=False)
        ]
    template = "{" + ", ".join(encode_basestring(n).replace("%", "%%") + ": %s" for n in names) + "}"
    encoded = [[_json_value(v) for v in c.tolist()] for c in columns]
    return [template % row for row in zip(*encoded, strict=False)]


def _csv_rows(out: io.BytesIO, table: pa.Table) -> None:
    if table.num_rows:
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))

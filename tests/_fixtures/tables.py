"""Writing a frame as a warehouse table, for tests that run a stage against a small DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd


def write_table(path: Path, table: str, frame: pd.DataFrame) -> None:
    """``frame`` as ``schema.name`` (replaced) in the DuckDB file at ``path``."""
    schema, name = table.split(".")
    con = duckdb.connect(str(path))
    try:
        con.execute(f"create schema if not exists {schema}")
        con.register("f", frame)
        con.execute(f"create or replace table {schema}.{name} as select * from f")
    finally:
        con.close()

"""The extraction days the pipeline has processed, and the day the warehouse describes.

The ingest step records every day of its window in ``landing.processed_days``,
whether anything arrived that day or not (a missing day folder is "nothing
arrived", CONTRACT.md). The warehouse's **as-of day** is the newest processed day:
the current-state marts (``dim_customers``, ``dim_products``, ``fct_orders``'s
stamp) describe it even when no source delivered on it, and ``source_freshness``
says which source is stale. Derived from what was processed, never from the run
that happens to be building, so re-running an older day out of order leaves the
same state.

dbt's macro ``as_of_date()`` (dbt_project/macros/run_window.sql) computes the same
value in SQL; :func:`warehouse_as_of` is the Python side that the checks compare
the marts with.
"""

from __future__ import annotations

from datetime import date

import duckdb

TABLE = "processed_days"
SCHEMA = "landing"
DDL = f"create table if not exists {SCHEMA}.{TABLE} (_landing_date date not null)"


def record(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """Mark ``day`` processed (idempotent); the caller's transaction makes it atomic
    with the day's landing partitions."""
    con.execute(f"delete from {SCHEMA}.{TABLE} where _landing_date = ?", [day])
    con.execute(f"insert into {SCHEMA}.{TABLE} values (?)", [day])


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [SCHEMA, table],
    ).fetchone()
    return bool(row and row[0])


def warehouse_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest processed day, or None before the first ingest.

    Delivery days count too: a warehouse ingested before processed days were
    recorded keeps its as-of day (the newest delivery) until its next run.
    """
    parts = [f"select max(_landing_date) as day from {SCHEMA}.{t}" for t in (TABLE, "deliveries") if _exists(con, t)]
    if not parts:
        return None
    row = con.execute(f"select max(day) from ({' union all '.join(parts)})").fetchone()
    return row[0] if row else None

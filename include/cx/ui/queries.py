"""Read-only aggregates of the published tables for the Customer Experience page.

Every function takes an open DuckDB connection and returns a small frame or dict.
Only aggregates leave this module: counts, metrics and names of checks, never a
customer row, a quarantined raw line or a check's sample values (they can hold PII).
A table that a stage has not created yet yields an empty result, never an error,
so the page works on a warehouse that is still being filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd


@dataclass(frozen=True)
class Stage:
    name: str
    table: str  # the stage's output table in the main schema


# The pipeline's stages in run order, each with the table whose partition for a day
# tells whether the stage produced output for it.
STAGES: tuple[Stage, ...] = (
    Stage("data quality", "dq_results"),
    Stage("sentiment", "review_sentiment"),
    Stage("segmentation", "customer_segments"),
    Stage("recommendations", "customer_recommendations"),
    Stage("forecast", "sales_forecast"),
)

# Quarantine reasons of rows DuckDB could not parse carry its error message, which
# may quote the bad line: only the error kind before the first colon is shown.
_UNPARSEABLE = "unparseable:"


def _as_dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """DuckDB hands DATE columns to pandas as timestamps: give them back as dates."""
    for column in columns:
        if column in frame and not frame.empty:
            frame[column] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[column]]
    return frame


def main_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables and views of the main schema."""
    rows = con.execute("select table_name from information_schema.tables where table_schema = 'main'").fetchall()
    return {r[0] for r in rows}


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = 'main' and table_name = ?",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def as_of_dates(con: duckdb.DuckDBPyConnection, limit: int = 60) -> list[date]:
    """Run days with results, newest first (from model_runs and dq_results)."""
    tables = [t for t in ("model_runs", "dq_results") if t in main_tables(con)]
    if not tables:
        return []
    union = " union ".join(f"select distinct as_of_date from main.{t}" for t in tables)
    rows = con.execute(
        f"select as_of_date from ({union}) where as_of_date is not null order by 1 desc limit ?", [limit]
    ).fetchall()
    return [r[0] for r in rows]


def latest_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    days = as_of_dates(con, limit=1)
    return days[0] if days else None


def reason_sql() -> str:
    return (
        f"case when starts_with(reason, '{_UNPARSEABLE}') "
        f"then '{_UNPARSEABLE} ' || trim(split_part(substr(reason, {len(_UNPARSEABLE) + 1}), ':', 1)) "
        "else coalesce(reason, 'unknown') end"
    )


def model_metrics(con: duckdb.DuckDBPyConnection, as_of: date, model: str | None = None) -> pd.DataFrame:
    """Each model's metrics against its baseline from its newest run on or before ``as_of``.

    Models may run on a slower cadence than the daily pipeline, so a day without a
    model run shows the run the published output still comes from.
    """
    columns = ["model", "run_as_of", "metric", "value", "baseline_value", "lift", "passed", "model_version"]
    if "model_runs" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    frame = con.execute(
        """
        with latest as (
            select model, max(as_of_date) as run_as_of from main.model_runs
            where as_of_date <= $as_of and ($model is null or model = $model)
            group by model
        )
        select runs.model, latest.run_as_of, runs.metric, runs.value, runs.baseline_value,
               case when runs.baseline_value is not null and runs.baseline_value <> 0 and runs.value is not null
                    then runs.value / runs.baseline_value - 1 end as lift,
               runs.passed, runs.model_version
        from main.model_runs runs
        join latest on runs.model = latest.model and runs.as_of_date = latest.run_as_of
        order by runs.model, runs.metric
        """,
        {"as_of": as_of, "model": model},
    ).df()
    return _as_dates(frame, "run_as_of")[columns]


def segment_sizes(con: duckdb.DuckDBPyConnection, as_of: date, days: int = 30) -> pd.DataFrame:
    """Customers per segment for the newest ``days`` segmentation runs up to ``as_of``."""
    columns = ["as_of_date", "segment_name", "customers"]
    if "customer_segments" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    frame = con.execute(
        """
        with recent as (
            select distinct as_of_date from main.customer_segments
            where as_of_date <= ? order by as_of_date desc limit ?
        )
        select as_of_date, coalesce(segment_name, 'unassigned') as segment_name, count(*) as customers
        from main.customer_segments join recent using (as_of_date)
        group by all order by as_of_date, segment_name
        """,
        [as_of, days],
    ).df()
    return _as_dates(frame, "as_of_date")[columns]


def as_of_dates_between(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[date]:
    """Run days between ``start`` and ``end`` (inclusive), for days older than the choice list."""
    tables = [t for t in ("model_runs", "dq_results") if t in main_tables(con)]
    if not tables:
        return []
    union = " union ".join(
        f"select distinct as_of_date from main.{t} where as_of_date between $s and $e" for t in tables
    )
    return [r[0] for r in con.execute(f"select * from ({union}) order by 1 desc", {"s": start, "e": end}).fetchall()]

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

from cx.publish import EMPTY_TABLES, published_row_counts


@dataclass(frozen=True)
class Stage:
    name: str
    table: str  # the stage's output table in the main schema
    model: str | None = None  # its name in model_runs, if it reports metrics


# The pipeline's stages in run order, each with the table whose newest partition
# tells when the stage last produced output.
STAGES: tuple[Stage, ...] = (
    Stage("data quality", "dq_results"),
    Stage("sentiment", "review_sentiment", "sentiment"),
    Stage("segmentation", "customer_segments", "segmentation"),
    Stage("recommendations", "customer_recommendations", "recommendations"),
    Stage("forecast", "sales_forecast", "forecast"),
    Stage("publish", "dim_customers"),
)

RECOMMENDATIONS_MODEL = "recommendations"

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
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
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


def stage_status(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per stage: newest as-of day with output, its rows, and its model's verdict then."""
    tables = main_tables(con)
    has_runs = "model_runs" in tables
    rows = []
    for stage in STAGES:
        row: dict = {"stage": stage.name, "table": stage.table, "latest_as_of": None, "rows": None,
                     "model_version": None, "metrics_passed": None, "metrics_failed": None}
        if stage.table in tables and "as_of_date" in _columns(con, stage.table):
            day, count = con.execute(
                f"select max(as_of_date), count(*) filter (where as_of_date = (select max(as_of_date) "
                f"from main.{stage.table})) from main.{stage.table}"
            ).fetchone()
            row.update(latest_as_of=day, rows=int(count) if day is not None else None)
        if stage.model and has_runs:
            version, passed, failed = con.execute(
                """
                select string_agg(distinct model_version, ', ' order by model_version),
                       count(*) filter (where passed), count(*) filter (where not passed)
                from main.model_runs
                where model = $1 and as_of_date = (select max(as_of_date) from main.model_runs where model = $1)
                """,
                [stage.model],
            ).fetchone()
            row.update(model_version=version, metrics_passed=int(passed), metrics_failed=int(failed))
        rows.append(row)
    return pd.DataFrame(rows)


def published_counts(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Rows per published table: the day's partition, or the current snapshot."""
    counts = published_row_counts(con, as_of)
    return pd.DataFrame(
        [{"table": t, "rows": int(n), "scope": "as-of day" if t in EMPTY_TABLES else "current snapshot"}
         for t, n in counts.items()]
    )


def _reason_sql() -> str:
    return (
        f"case when starts_with(reason, '{_UNPARSEABLE}') "
        f"then '{_UNPARSEABLE} ' || trim(split_part(substr(reason, {len(_UNPARSEABLE) + 1}), ':', 1)) "
        "else coalesce(reason, 'unknown') end"
    )


def quarantine_summary(con: duckdb.DuckDBPyConnection, as_of: date, limit: int = 100) -> pd.DataFrame:
    """Quarantined rows by source and reason: on the as-of day and over all days."""
    columns = ["source", "reason", "rows_as_of", "rows_total"]
    if "quarantine" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    return con.execute(
        f"""
        select source, {_reason_sql()} as reason,
               count(*) filter (where as_of_date = ?) as rows_as_of, count(*) as rows_total
        from main.quarantine
        where as_of_date <= ?
        group by all
        order by rows_as_of desc, rows_total desc, source, reason
        limit ?
        """,
        [as_of, as_of, limit],
    ).df()[columns]


def dq_summary(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Checks of the day by severity: evaluated, passed, failed, skipped (no verdict)."""
    columns = ["severity", "checks", "passed", "failed", "skipped"]
    if "dq_results" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    severity = "coalesce(severity, 'unspecified')" if "severity" in _columns(con, "dq_results") else "'unspecified'"
    return con.execute(
        f"""
        select {severity} as severity, count(*) as checks,
               count(*) filter (where success) as passed,
               count(*) filter (where not success) as failed,
               count(*) filter (where success is null) as skipped
        from main.dq_results where as_of_date = ?
        group by all order by severity
        """,
        [as_of],
    ).df()[columns]


def dq_failures(con: duckdb.DuckDBPyConnection, as_of: date, limit: int = 50) -> pd.DataFrame:
    """The day's failed checks (names and counts only: details hold sample values)."""
    columns = ["severity", "suite", "table", "expectation", "unexpected_count"]
    if "dq_results" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    severity = "severity" if "severity" in _columns(con, "dq_results") else "null"
    return con.execute(
        f"""
        select {severity} as severity, suite, "table", expectation, unexpected_count
        from main.dq_results where as_of_date = ? and success = false
        order by severity = 'critical' desc, unexpected_count desc nulls last, suite, expectation
        limit ?
        """,
        [as_of, limit],
    ).df()[columns]


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


def forecast_series(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The forecast run on or before ``as_of``: per series its horizon and model."""
    columns = ["series", "metric", "run_as_of", "days", "first_ds", "last_ds", "model_version"]
    tables = main_tables(con)
    if "sales_forecast" not in tables:
        return pd.DataFrame(columns=columns)
    metric = "metric" if "metric" in _columns(con, "sales_forecast") else "null"
    frame = con.execute(
        f"""
        with run as (select max(as_of_date) as run_as_of from main.sales_forecast where as_of_date <= ?)
        select series, {metric} as metric, run.run_as_of, count(*) as days, min(ds) as first_ds,
               max(ds) as last_ds, string_agg(distinct model_version, ', ') as model_version
        from main.sales_forecast join run on as_of_date = run.run_as_of
        group by 1, 2, 3 order by series <> 'total', series, metric
        """,
        [as_of],
    ).df()
    return _as_dates(frame, "run_as_of", "first_ds", "last_ds")[columns]


def as_of_dates_between(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[date]:
    """Run days between ``start`` and ``end`` (inclusive), for days older than the choice list."""
    tables = [t for t in ("model_runs", "dq_results") if t in main_tables(con)]
    if not tables:
        return []
    union = " union ".join(f"select distinct as_of_date from main.{t} where as_of_date between $s and $e"
                           for t in tables)
    return [r[0] for r in con.execute(f"select * from ({union}) order by 1 desc", {"s": start, "e": end}).fetchall()]

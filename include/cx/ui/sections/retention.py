"""Retention: the risk and value bands of the scored customers over time, and the day's
top-at-risk list (pseudonymous customer ids only, as every published table has them)."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from cx.ui.queries import main_tables

BAND_ORDER = ("high", "medium", "low")


def band_shares(
    con: duckdb.DuckDBPyConnection, day: date, column: str, days: int = 60
) -> tuple[list[date], dict[str, list[float]]]:
    """Share of scored customers per ``column`` band (risk_band or value_band) per run
    day, the last ``days`` run days up to ``day``, oldest first."""
    if column not in ("risk_band", "value_band") or "customer_value" not in main_tables(con):
        return [], {}
    frame = con.execute(
        f"""
        with recent as (
            select distinct as_of_date from main.customer_value where as_of_date <= ?
            order by as_of_date desc limit ?
        )
        select as_of_date, {column} as band, count(*) as customers
        from main.customer_value join recent using (as_of_date)
        group by all order by as_of_date, band""",
        [day, days],
    ).df()
    if frame.empty:
        return [], {}
    wide = frame.pivot_table(index="as_of_date", columns="band", values="customers", aggfunc="sum", fill_value=0)
    share = wide.div(wide.sum(axis=1).replace(0, 1), axis=0).sort_index()
    names = [b for b in BAND_ORDER if b in share.columns]
    return [d.date() if hasattr(d, "date") else d for d in share.index], {
        f"{b} {column.split('_')[0]}": [float(v) for v in share[b]] for b in names
    }


def top_at_risk(con: duckdb.DuckDBPyConnection, day: date, limit: int = 25) -> list[dict[str, Any]]:
    """The day's target list, best first, with each customer's scores and reasons."""
    if not {"retention_targets", "customer_value"} <= main_tables(con):
        return []
    frame = con.execute(
        """
        select t.rank, t.customer_id, t.expected_value_at_risk, t.arm, v.churn_risk, v.expected_value,
               v.risk_band, v.value_band, v.reasons
        from main.retention_targets t
        join main.customer_value v using (customer_id, as_of_date)
        where t.as_of_date = ? order by t.rank limit ?""",
        [day, limit],
    ).df()
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def summary(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any] | None:
    """The day's model version, customers scored and value at stake."""
    if "customer_value" not in main_tables(con):
        return None
    row = con.execute(
        """
        select count(*), any_value(model_version), sum(expected_value), avg(churn_risk),
               sum(expected_value) filter (where risk_band = 'high')
        from main.customer_value where as_of_date = ?""",
        [day],
    ).fetchone()
    if not row or not row[0]:
        return None
    return {
        "customers": row[0],
        "model_version": row[1],
        "label_free": str(row[1]).endswith("label-free"),
        "expected_value": row[2],
        "mean_churn_risk": row[3],
        "value_high_risk": row[4],
    }


def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    risk_days, risk = band_shares(con, day, "risk_band")
    value_days, value = band_shares(con, day, "value_band")
    return {
        "summary": summary(con, day),
        "risk_days": risk_days,
        "risk": risk,
        "value_days": value_days,
        "value": value,
        "targets": top_at_risk(con, day),
    }

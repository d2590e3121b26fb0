"""Forecasts: each series of the forecast run on or before the day, its bands, and
the actuals that have arrived since (from ``marts.fct_daily_sales``), with the
error and interval coverage over the days that can already be judged."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from cx.models.forecast._config import OTHER_CATEGORIES
from cx.ui.queries import main_tables, table_columns

HISTORY_DAYS = 28  # actuals shown before the forecast starts


def _has_sales(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'fct_daily_sales'"
    ).fetchall()
    return {r[0] for r in rows}


def run_day(con: duckdb.DuckDBPyConnection, day: date) -> date | None:
    if "sales_forecast" not in main_tables(con):
        return None
    return con.execute("select max(as_of_date) from main.sales_forecast where as_of_date <= ?", [day]).fetchone()[0]


def forecast_rows(con: duckdb.DuckDBPyConnection, run: date, only: tuple[str, str] | None = None) -> pd.DataFrame:
    """Every forecast row of the run (or one series), in one read."""
    have = table_columns(con, "sales_forecast")
    extra = ", yhat_lower_95, yhat_upper_95" if {"yhat_lower_95", "yhat_upper_95"} <= have else ""
    metric = "metric" if "metric" in have else "'value'"
    frame = con.execute(
        f"""
        select * from (select series, {metric} as metric, ds, yhat, yhat_lower, yhat_upper{extra}
                       from main.sales_forecast where as_of_date = $run)
        where $series is null or (series = $series and metric = $metric)
        order by series <> 'total', series, metric, ds""",
        {"run": run, "series": only[0] if only else None, "metric": only[1] if only else None},
    ).df()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frame


def actuals(con: duckdb.DuckDBPyConnection, wanted: list[tuple[str, str]], start: date, end: date) -> pd.DataFrame:
    """Actual values per series, measure and day between ``start`` and ``end`` (whatever has arrived)."""
    have = _has_sales(con)
    measures = sorted({m for _, m in wanted if m in have})
    columns = ["series", "metric", "ds", "actual"]
    if not measures or "series" not in have:
        return pd.DataFrame(columns=columns)
    unions = " union all ".join(
        f"select series, '{m}' as metric, ds, \"{m}\" as actual from marts.fct_daily_sales "
        "where series in (select unnest($series)) and ds between $start and $end"
        for m in measures
    )
    if (OTHER_CATEGORIES, "revenue") in wanted and "revenue" in measures:
        # The forecast's "other categories": every category not forecast on its own.
        unions += (
            f" union all select '{OTHER_CATEGORIES}', 'revenue', ds, sum(revenue) from marts.fct_daily_sales "
            "where series <> 'total' and series not in (select unnest($series)) "
            "and ds between $start and $end group by ds"
        )
    frame = con.execute(
        f"select * from ({unions}) order by series, metric, ds",
        {"series": sorted({s for s, _ in wanted}), "start": start, "end": end},
    ).df()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frame[columns]


def judged(fc: pd.DataFrame, act: pd.DataFrame) -> dict[str, Any]:
    """How the forecast did on the days whose actuals have arrived."""
    both = fc.merge(act[["ds", "actual"]], on="ds")
    if both.empty:
        return {"days": 0}
    err = (both["actual"] - both["yhat"]).abs()
    inside = ((both["actual"] >= both["yhat_lower"]) & (both["actual"] <= both["yhat_upper"])).mean()
    inside_95 = None
    if "yhat_lower_95" in both and both["yhat_lower_95"].notna().all():
        inside_95 = float(
            ((both["actual"] >= both["yhat_lower_95"]) & (both["actual"] <= both["yhat_upper_95"])).mean()
        )
    denom = both["actual"].abs().sum()
    return {
        "days": int(len(both)),
        "mae": float(err.mean()),
        "coverage": float(inside),
        "coverage_95": inside_95,
        "wape": float(err.sum() / denom) if denom else None,
    }


def collect(con: duckdb.DuckDBPyConnection, day: date, only: tuple[str, str] | None = None) -> dict[str, Any]:
    run = run_day(con, day)
    if run is None:
        return {"run": None, "series": []}
    rows = forecast_rows(con, run, only)
    if rows.empty:
        return {"run": run, "series": []}
    wanted = list(dict.fromkeys(zip(rows["series"], rows["metric"], strict=False)))
    act = actuals(con, wanted, run - timedelta(days=HISTORY_DAYS), rows["ds"].max())
    series = []
    for name, metric in wanted:
        fc = rows[(rows["series"] == name) & (rows["metric"] == metric)].drop(columns=["series", "metric"])
        a = act[(act["series"] == name) & (act["metric"] == metric)][["ds", "actual"]]
        series.append(
            {
                "series": name,
                "metric": metric,
                "forecast": fc.reset_index(drop=True),
                "actuals": a.reset_index(drop=True),
                "judged": judged(fc, a),
                "first": fc["ds"].min(),
                "last": fc["ds"].max(),
            }
        )
    return {"run": run, "series": series}

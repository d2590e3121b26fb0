"""Forecasts: each series of the forecast run on or before the day, its bands, and
the actuals that have arrived since (from ``marts.fct_daily_sales``), with the
error and interval coverage over the days that can already be judged."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import main_tables, table_columns

HISTORY_DAYS = 28  # actuals shown before the forecast starts


def _has_sales(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select column_name from information_schema.columns where table_schema = 'marts' "
                       "and table_name = 'fct_daily_sales'").fetchall()
    return {r[0] for r in rows}


def run_day(con: duckdb.DuckDBPyConnection, day: date) -> date | None:
    if "sales_forecast" not in main_tables(con):
        return None
    return con.execute("select max(as_of_date) from main.sales_forecast where as_of_date <= ?", [day]).fetchone()[0]


def series_list(con: duckdb.DuckDBPyConnection, run: date) -> list[tuple[str, str]]:
    metric = "metric" if "metric" in table_columns(con, "sales_forecast") else "'value'"
    rows = con.execute(f"select distinct series, {metric} from main.sales_forecast where as_of_date = ? "
                       "order by series <> 'total', series, 2", [run]).fetchall()
    return [(r[0], r[1]) for r in rows]


def forecast(con: duckdb.DuckDBPyConnection, run: date, series: str, metric: str) -> pd.DataFrame:
    have = table_columns(con, "sales_forecast")
    extra = ", yhat_lower_95, yhat_upper_95" if {"yhat_lower_95", "yhat_upper_95"} <= have else ""
    where_metric = "and metric = $metric" if "metric" in have else ""
    frame = con.execute(f"select ds, yhat, yhat_lower, yhat_upper{extra} from main.sales_forecast "
                        f"where as_of_date = $run and series = $series {where_metric} order by ds",
                        {"run": run, "series": series, **({"metric": metric} if where_metric else {})}).df()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frame


def actuals(con: duckdb.DuckDBPyConnection, series: str, metric: str, start: date, end: date) -> pd.DataFrame:
    """Actual values per day between ``start`` and ``end`` (whatever has arrived by now)."""
    have = _has_sales(con)
    if metric not in have or "series" not in have:
        return pd.DataFrame(columns=["ds", "actual"])
    frame = con.execute(f'select ds, "{metric}" as actual from marts.fct_daily_sales '
                        "where series = ? and ds between ? and ? order by ds", [series, start, end]).df()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frame


def judged(fc: pd.DataFrame, act: pd.DataFrame) -> dict[str, Any]:
    """How the forecast did on the days whose actuals have arrived."""
    both = fc.merge(act, on="ds")
    if both.empty:
        return {"days": 0}
    err = (both["actual"] - both["yhat"]).abs()
    inside = ((both["actual"] >= both["yhat_lower"]) & (both["actual"] <= both["yhat_upper"])).mean()
    denom = both["actual"].abs().sum()
    return {"days": int(len(both)), "mae": float(err.mean()), "coverage": float(inside),
            "wape": float(err.sum() / denom) if denom else None}


def one_series(con: duckdb.DuckDBPyConnection, run: date, series: str, metric: str) -> dict[str, Any]:
    fc = forecast(con, run, series, metric)
    if fc.empty:
        return {"series": series, "metric": metric, "forecast": fc, "actuals": fc, "judged": {"days": 0}}
    act = actuals(con, series, metric, run - timedelta(days=HISTORY_DAYS), fc["ds"].max())
    return {"series": series, "metric": metric, "forecast": fc, "actuals": act,
            "judged": judged(fc, act), "first": fc["ds"].min(), "last": fc["ds"].max()}


def collect(con: duckdb.DuckDBPyConnection, day: date, only: tuple[str, str] | None = None) -> dict[str, Any]:
    run = run_day(con, day)
    if run is None:
        return {"run": None, "series": []}
    wanted = [only] if only else series_list(con, run)
    return {"run": run, "series": [one_series(con, run, s, m) for s, m in wanted]}

"""The stage: read the daily sales, forecast, write charts, the day's forecasts and model_runs."""

from __future__ import annotations

import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.model_runs import OUTPUT_SCHEMA
from cx.models._stage import StageOutput, run_stage
from cx.models.forecast._calendar import shop_calendar
from cx.models.forecast._charts import write_charts
from cx.models.forecast._config import MODEL_NAME, VERSION_NAIVE, ForecastConfig
from cx.models.forecast._core import forecast_all, forecast_frame, publishable, run_metrics
from cx.models.forecast._products import VERSION as PRODUCT_VERSION
from cx.models.forecast._products import ProductConfig, forecast_products
from cx.models.forecast._series import build_series
from cx.publish import EMPTY_TABLES
from cx.warehouse import read_df, table_exists


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Forecast the daily sales series: model_outputs.sales_forecast and model_runs (publish
    copies them), and one chart per series under the day's charts folder."""
    settings = settings or load_settings()
    cfg = ForecastConfig.from_settings(settings)
    chart_dir = settings.charts_dir / str(as_of)
    compute = partial(_compute, as_of=as_of, cfg=cfg, chart_dir=chart_dir)
    read = partial(_read, as_of=as_of, top_products=cfg.top_products)
    return run_stage(MODEL_NAME, as_of, settings, read, compute, _prepare)


def _prepare(con: Any, output: StageOutput) -> None:
    """Tables of an older stage version gain the 95% bounds; the product table exists
    with its contract types even on a day without products."""
    con.execute(f"create schema if not exists {OUTPUT_SCHEMA}")
    for table in output.partitions:
        if not table_exists(con, table, OUTPUT_SCHEMA):
            con.execute(f"create table {OUTPUT_SCHEMA}.{table} ({EMPTY_TABLES[table]})")
    for column in ("yhat_lower_95", "yhat_upper_95"):
        con.execute(f"alter table {OUTPUT_SCHEMA}.sales_forecast add column if not exists {column} double")


def _read(con: Any, as_of: date, top_products: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not table_exists(con, "fct_daily_sales", "marts"):
        raise NothingToDo("marts.fct_daily_sales missing")
    sales = read_df(con, "select ds, series, revenue, orders from marts.fct_daily_sales where ds <= ?", [as_of])
    lines = pd.DataFrame(columns=["ds", "product_id", "units", "revenue"])
    if (
        top_products
        and table_exists(con, "fct_orders", "marts")
        and table_exists(con, "int_order_items", "intermediate")
    ):
        # Units sold (returns are not demand) per product and day, the last year.
        lines = read_df(
            con,
            """select o.order_date as ds, i.product_id, sum(i.quantity)::double as units,
                      round(sum(i.quantity * i.unit_price), 2)::double as revenue
               from marts.fct_orders as o join intermediate.int_order_items as i using (order_id)
               where o.status <> 'cancelled' and i.quantity > 0 and i.product_id is not null
                 and o.order_date <= ? and o.order_date > ?::date - interval 365 day
               group by all order by ds, product_id""",  # one row order: the ranking does not depend on it
            [as_of, as_of],
        )
    return sales, lines


def _compute(
    inputs: tuple[pd.DataFrame, pd.DataFrame], as_of: date, cfg: ForecastConfig, chart_dir: Path
) -> StageOutput:
    sales, lines = inputs
    series = build_series(sales, as_of, cfg.top_categories)
    if not series:
        raise NothingToDo(f"no daily sales up to {as_of}")
    calendar = shop_calendar(series[("total", "revenue")], cfg)
    fit_started = time.monotonic()
    results = forecast_all(series, calendar, cfg)
    reconciliation = publishable(results, cfg)
    fit_seconds = time.monotonic() - fit_started
    charts = write_charts(results, series, chart_dir, cfg)
    forecasts = forecast_frame(results)
    products_started = time.monotonic()
    product_cfg = ProductConfig(cfg.top_products, cfg.product_revenue_share, horizon_days=cfg.horizon_days)
    products = forecast_products(lines, as_of, calendar, product_cfg)
    summary = {
        "rows": len(forecasts),
        "series": len(results),
        "closed_weekdays": sorted(calendar.weekdays),
        "closures": len(calendar.closures),
        "published": {f"{r.series}:{r.metric}": r.model_version for r in results},
        "baseline_published": [f"{r.series}:{r.metric}" for r in results if r.model_version == VERSION_NAIVE],
        "mase": {
            f"{r.series}:{r.metric}": round(r.backtest[r.details["chosen"]]["mase"], 3)
            for r in results
            if r.backtest and "chosen" in r.details
        },
        "reconciliation": reconciliation["method"],
        "coverage_80_95": {
            f"{r.series}:{r.metric}": [round(r.intervals["published"][f"coverage_{p}"], 3) for p in (80, 95)]
            for r in results
            if r.intervals.get("published")
        },
        "charts": str(chart_dir),
        "chart_files": len(charts),
        "fit_seconds": round(fit_seconds, 1),
        "fit_cpu_seconds": round(sum(r.timing.get("cpu_seconds", 0.0) for r in results), 1),
        "product_demand": {**products.summary, "seconds": round(time.monotonic() - products_started, 2)},
    }
    # One write for all series keeps the day atomic; each row carries its own version.
    runs = [(r.model_version, run_metrics(r, cfg.interval_width, cfg.coverage_tolerance)) for r in results]
    if products.metrics:
        runs.append((PRODUCT_VERSION, products.metrics))
    partitions = {"sales_forecast": forecasts, "product_demand_forecast": products.forecast}
    return StageOutput(partitions, runs, summary)

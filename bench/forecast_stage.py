"""The forecasting stage out of sample: calibration of the published intervals,
coherence, point error against the seasonal naive, product demand, stage time.

    .venv/bin/python bench/forecast_stage.py --uci            # ../shared/data/uci_online_retail
    .venv/bin/python bench/forecast_stage.py --warehouse include/data/warehouse/cx.duckdb   # the demo

For each of the last ``--windows`` windows of the horizon (28 days), the whole stage
(:mod:`cx.models.forecast`: inner backtest and choice per series, reconciliation,
conformal intervals, product demand) runs on the history before the window only, as
the daily task would on that day; its published rows are scored on the window:

* per headline series: coverage of the 80% and 95% intervals over the open days, MASE
  of the published forecast and of the seasonal naive (the scale: in-sample MAE of
  the 7-day naive on the training part), the largest |total - sum of categories|;
* products: RMSSE (M5) and MASE across the top products, of the published choice and
  of the seasonal naive;
* the seconds the stage's computation took (fit, reconciliation, intervals, products).

The UCI series come from the importer's mapping (``forecast_uci.load_daily_sales``,
the SQL of ``fct_daily_sales``); the demo's from the warehouse ``make demo`` built,
read with the stage's own query. Results: printed, and ``--csv`` appends the rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cx.config import load_settings
from cx.models import forecast as fc
from cx.models.forecast import naive_scale
from cx.models.forecast._backtest import open_mask
from cx.models.forecast._products import BASELINE, predict
from cx.models.forecast._stage import _read

REPO = Path(__file__).resolve().parents[1]


def stage_once(sales: pd.DataFrame, lines: pd.DataFrame, as_of: date, cfg: fc.ForecastConfig):
    """The stage's computation (no warehouse writes, no charts): published rows."""
    started = time.monotonic()
    series = fc.build_series(sales, as_of, cfg.top_categories)
    calendar = fc.shop_calendar(series[("total", "revenue")], cfg)
    results = fc.forecast_all(series, calendar, cfg)
    info = fc.publishable(results, cfg)
    published = fc.forecast_frame(results)
    fit = time.monotonic() - started
    products_started = time.monotonic()
    pcfg = fc.ProductConfig(cfg.top_products, cfg.product_revenue_share, horizon_days=cfg.horizon_days)
    products = fc.forecast_products(lines, as_of, calendar, pcfg)
    seconds = {"series_s": fit, "products_s": time.monotonic() - products_started}
    return series, calendar, results, info, published, products, seconds


def score_window(
    sales: pd.DataFrame, lines: pd.DataFrame, as_of: date, end: date, cfg: fc.ForecastConfig
) -> tuple[list[dict], dict]:
    train_sales = sales.loc[pd.to_datetime(sales["ds"]) <= pd.Timestamp(as_of)]
    train_lines = lines.loc[pd.to_datetime(lines["ds"]) <= pd.Timestamp(as_of)]
    series, calendar, results, info, published, products, seconds = stage_once(train_sales, train_lines, as_of, cfg)
    full = fc.build_series(sales, end, cfg.top_categories)
    rows = []
    for r in results:
        key = (r.series, r.metric)
        actual = full[key]
        window = published.loc[(published["series"] == r.series) & (published["metric"] == r.metric)]
        window = window.assign(ds=pd.to_datetime(window["ds"])).set_index("ds")
        y = actual.reindex(window.index)
        is_open = open_mask(window.index, calendar.weekdays) & y.notna().to_numpy()
        w, yv = window.loc[is_open], y[is_open]
        scale = naive_scale(series[key], calendar.weekdays)
        naive = fc.baseline_forecast(series[key], calendar, cfg).set_index("ds").reindex(w.index)
        rows.append(
            {
                "as_of": str(as_of),
                "series": f"{r.series}:{r.metric}",
                "published": r.model_version,
                "days": int(is_open.sum()),
                "cov80": float(((yv >= w["yhat_lower"]) & (yv <= w["yhat_upper"])).mean()),
                "cov95": float(((yv >= w["yhat_lower_95"]) & (yv <= w["yhat_upper_95"])).mean()),
                "naive_cov80": float(((yv >= naive["yhat_lower"]) & (yv <= naive["yhat_upper"])).mean()),
                "mase": float((yv - w["yhat"]).abs().mean() / scale),
                "naive_mase": float((yv - naive["yhat"]).abs().mean() / scale),
                "width80_rel": float(((w["yhat_upper"] - w["yhat_lower"]) / yv.abs().mean()).mean()),
            }
        )
    revenue = published.loc[published["metric"] == "revenue"].pivot(index="ds", columns="series", values="yhat")
    gap = (
        float((revenue["total"] - revenue.drop(columns="total").sum(axis=1)).abs().max())
        if revenue.shape[1] > 1
        else 0.0
    )
    prod = score_products(products, lines, train_lines, as_of, calendar, cfg)
    return rows, {"as_of": str(as_of), "reconciliation": info["method"], "max_gap": gap, **prod, **seconds}


def score_products(products, lines, train_lines, as_of, calendar, cfg) -> dict:
    """RMSSE and MASE across the published products on the window, and the naive's."""
    fcst = products.forecast
    if fcst.empty:
        return {"products": 0}
    ids = list(dict.fromkeys(fcst["product_id"]))
    future = pd.date_range(pd.Timestamp(as_of) + pd.Timedelta(days=1), periods=cfg.horizon_days)
    actual = fc._products.demand_matrix(lines, ids, future)
    first = max(pd.to_datetime(train_lines["ds"]).min(), pd.Timestamp(as_of) - pd.Timedelta(days=364))
    history_index = pd.date_range(first, pd.Timestamp(as_of))
    history = fc._products.demand_matrix(train_lines, ids, history_index)
    pub = fcst.pivot(index="product_id", columns="ds", values="yhat").loc[ids].to_numpy()
    naive = predict(history, history_index, calendar, cfg.horizon_days)[BASELINE]
    is_open = open_mask(future, calendar.weekdays)
    train_open = open_mask(history_index, calendar.weekdays)
    sq = np.mean(np.diff(history[:, train_open], axis=1) ** 2, axis=1)
    ab = np.abs(history[:, 7:] - history[:, :-7])[:, train_open[7:]].mean(axis=1)
    ok = (sq > 0) & (ab > 0)

    def rmsse(f):
        return float(np.mean(np.sqrt(np.mean((actual - f)[:, is_open] ** 2, axis=1)[ok] / sq[ok])))

    def mase(f):
        return float(np.mean(np.mean(np.abs(actual - f)[:, is_open], axis=1)[ok] / ab[ok]))

    inside = (actual >= fcst.pivot(index="product_id", columns="ds", values="yhat_lower").loc[ids].to_numpy()) & (
        actual <= fcst.pivot(index="product_id", columns="ds", values="yhat_upper").loc[ids].to_numpy()
    )
    return {
        "products": len(ids),
        "rmsse": rmsse(pub),
        "naive_rmsse": rmsse(naive),
        "mase_products": mase(pub),
        "naive_mase_products": mase(naive),
        "product_cov80": float(inside[:, is_open].mean()),
        "methods": products.summary.get("methods"),
    }


def load_warehouse(path: Path, as_of: date | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        last = as_of or con.execute("select max(ds) from marts.fct_daily_sales").fetchone()[0]
        return _read(con, last, top_products=500)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--uci", nargs="?", const=REPO.parent / "shared" / "data" / "uci_online_retail", type=Path)
    source.add_argument("--warehouse", type=Path)
    source.add_argument(
        "--demo-days",
        type=int,
        help="generate the demo shop (seed 42, 3000 customers, from 2024-09-01) for this many days and "
        "build its marts with ingest + dbt (bench/forecast_demo.py), under /tmp/forecast/demo-<days>",
    )
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--folds", type=int, help="override the stage's backtest folds")
    parser.add_argument("--band-days", type=int, help="override the conformal horizon band")
    args = parser.parse_args(argv)

    overrides = {"folds": args.folds, "band_days": args.band_days}
    cfg = fc.ForecastConfig.from_settings(load_settings(), **{k: v for k, v in overrides.items() if v})
    if args.uci:
        sys.path.insert(0, str(Path(__file__).parent))
        from forecast_uci import load_daily_sales, load_product_lines

        sales, lines = load_daily_sales(args.uci), load_product_lines(args.uci)
        label = "uci"
    else:
        warehouse = args.warehouse
        if args.demo_days:
            sys.path.insert(0, str(Path(__file__).parent))
            import os

            import forecast_demo

            workdir = Path(f"/tmp/forecast/demo-{args.demo_days}")
            workdir.mkdir(parents=True, exist_ok=True)
            os.environ["CX_WAREHOUSE"] = str(workdir / "cx.duckdb")
            forecast_demo.DAYS = args.demo_days
            warehouse, _ = forecast_demo.prepare(workdir)
        sales, lines = load_warehouse(warehouse, None)
        label = "demo"
    last = pd.Timestamp(sales["ds"].max()).date()
    # Windows end at the last day of data, one horizon apart, oldest first.
    origins = [last - pd.Timedelta(days=cfg.horizon_days * k) for k in range(args.windows, 0, -1)]
    origins = [pd.Timestamp(o).date() for o in origins]
    rows, stages = [], []
    for as_of in origins:
        started = time.monotonic()
        r, s = score_window(sales, lines, as_of, last, cfg)
        s["seconds"] = time.monotonic() - started
        rows += r
        stages.append(s)
        print(f"{label} as_of {as_of}: {s}", flush=True)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 220)
    pd.set_option("display.float_format", lambda v: f"{v:.3f}")
    print(table.to_string(index=False))
    by = table.groupby("series", sort=False)
    summary = pd.DataFrame(
        {
            "days": by["days"].sum(),
            "cov80": by.apply(lambda g: np.average(g["cov80"], weights=g["days"])),
            "cov95": by.apply(lambda g: np.average(g["cov95"], weights=g["days"])),
            "naive_cov80": by.apply(lambda g: np.average(g["naive_cov80"], weights=g["days"])),
            "mase": by["mase"].mean(),
            "naive_mase": by["naive_mase"].mean(),
        }
    )
    print(f"\n== {label}: over {args.windows} windows of {cfg.horizon_days} days (open days pooled)")
    print(summary.to_string())
    st = pd.DataFrame(stages)
    cols = [c for c in ("rmsse", "naive_rmsse", "mase_products", "naive_mase_products", "product_cov80") if c in st]
    print(
        st[["as_of", "reconciliation", "max_gap", "products", *cols, "series_s", "products_s", "seconds"]].to_string(
            index=False
        )
    )
    if cols:
        print("products mean: " + ", ".join(f"{c} {st[c].mean():.3f}" for c in cols))
    if args.csv:
        out = summary.reset_index().assign(source=label)
        out.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

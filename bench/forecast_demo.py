"""Forecast stage on the demo data: how long fitting all series takes (target < 60 s).

Run::

    .venv/bin/python bench/forecast_demo.py [--workdir /tmp/forecast/demo] [--jobs 2]

Builds what the forecast task reads in ``make demo``, in a scratch directory:

1. the demo landing zone (``python -m cx.generate --start 2024-09-01 --days 90
   --customers 3000 --seed 42``, reused when already there);
2. a warehouse with ``marts.fct_daily_sales``: the landing files loaded by
   :func:`cx.ingest.ingest_range` and the dbt models up to ``fct_daily_sales`` run by
   dbt itself (``dbt run --select +fct_daily_sales``, own target/log paths so a dbt
   run elsewhere in the project is not disturbed);
3. the stage itself, :func:`cx.models.forecast.run` for the last demo day: backtests,
   choice, final fits of every series in parallel over ``--jobs`` processes, charts
   and the warehouse writes.

Prints per series the published model with its backtest figures, then the seconds:
``fit`` is :func:`cx.models.forecast.forecast_all` (all series, as the stage runs it),
``stage`` the whole task including reading, charts and writes. ``--jobs 1`` gives the
sequential figure for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

START = date(2024, 9, 1)
DAYS = 90
CUSTOMERS = 3000
SEED = 42


def prepare(workdir: Path) -> tuple[Path, date]:
    """Landing zone and warehouse with marts.fct_daily_sales; returns (warehouse, last day)."""
    from cx.config import load_settings
    from cx.generate.core import generate
    from cx.ingest import ingest_range
    from cx.transform import run_dbt, run_vars
    from cx.warehouse import connect, table_exists

    landing, warehouse = workdir / "landing", workdir / "cx.duckdb"
    last = START + timedelta(days=DAYS - 1)
    if not (landing / "_manifest.json").is_file():
        started = time.monotonic()
        generate(landing, START, DAYS, CUSTOMERS, seed=SEED, overwrite=True)
        print(f"generated the demo landing zone in {time.monotonic() - started:.1f}s")
    os.environ["CX_LANDING_DIR"] = str(landing)
    settings = load_settings()
    with connect(settings) as con:
        built = table_exists(con, "fct_daily_sales", "marts")
    if not built:
        started = time.monotonic()
        with connect(settings) as con:
            ingest_range(con, landing, START, last)
        os.environ["DBT_LOG_PATH"] = str(workdir / "dbt_logs")
        paths = ["--target-path", str(workdir / "dbt_target")]
        run_dbt(["seed", *paths], settings)
        run_dbt(["run", "--vars", json.dumps(run_vars(START, last)), "--select", "+fct_daily_sales", *paths], settings)
        print(f"built marts.fct_daily_sales in {time.monotonic() - started:.1f}s")
    return warehouse, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/forecast/demo"))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (the stage uses 2)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["CX_WAREHOUSE"] = str(workdir / "cx.duckdb")
    os.environ["CX_ARTIFACTS_DIR"] = str(workdir / "artifacts")

    from dataclasses import replace

    from cx.config import load_settings
    from cx.models import forecast as fc
    from cx.warehouse import connect, read_df

    _, as_of = prepare(workdir)
    settings = load_settings()
    cfg = replace(fc.ForecastConfig.from_settings(settings), n_jobs=args.jobs)
    with connect(settings) as con:
        sales = read_df(con, "select ds, series, revenue, orders from marts.fct_daily_sales where ds <= ?", [as_of])
    series = fc.build_series(sales, as_of, cfg.top_categories)
    calendar = fc.shop_calendar(series[("total", "revenue")], cfg)
    print(
        f"demo daily sales up to {as_of}: {len(series)} series x {len(series[('total', 'revenue')])} days; "
        f"closed weekdays {sorted(calendar.weekdays)}, closures {len(calendar.closures)}; "
        f"{cfg.folds} backtest folds of {cfg.horizon_days} days; {args.jobs} process(es)"
    )

    started = time.monotonic()
    results = fc.forecast_all(series, calendar, cfg)
    fit_s = time.monotonic() - started
    cpu_s = sum(r.timing["cpu_seconds"] for r in results)
    print(f"{'series':28s} {'published':26s} {'MASE':>6s} {'naive':>6s} {'cover':>6s} {'wall s':>7s} {'CPU s':>6s}")
    for r in results:
        chosen = r.details.get("chosen")
        pub = r.backtest.get(chosen, {}) if chosen else {}
        naive = r.backtest.get("naive", {})
        print(
            f"{r.series + ':' + r.metric:28s} {r.model_version:26s} {pub.get('mase', float('nan')):6.3f} "
            f"{naive.get('mase', float('nan')):6.3f} {pub.get('coverage', float('nan')):6.2f} "
            f"{r.timing['seconds']:7.1f} {r.timing['cpu_seconds']:6.1f}"
        )

    # The whole task as Airflow runs it (uses the stage's own n_jobs from the config).
    started = time.monotonic()
    summary = fc.run(as_of, settings)
    stage_s = time.monotonic() - started
    # CPU seconds do not grow when other work competes for the cores; wall seconds do.
    print(
        f"fit all {len(results)} series ({args.jobs} processes): {fit_s:.1f}s wall, {cpu_s:.1f} CPU-s in the "
        f"fits (/{args.jobs} cores = {cpu_s / args.jobs:.1f}s on an idle machine); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"whole stage (read, fit, {summary.get('chart_files')} charts, writes): {stage_s:.1f}s wall "
        f"(fit {summary.get('fit_seconds')}s, {summary.get('fit_cpu_seconds')} CPU-s); charts in {summary.get('charts')}"
    )
    print(f"target < 60 s: {'met' if fit_s < 60 else 'NOT met'} ({fit_s:.1f}s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The retention stage's cost at a given number of customers, on a synthetic order
history, without the rest of the pipeline (``bench/scale.py`` measures it in the full
pipeline with generated data; this isolates the stage).

Run::

    .venv/bin/python bench/retention_scale.py --customers 1000000 --root /tmp/retention_scale

A warehouse under ``--root`` gets ``marts.fct_orders`` (400 days; each customer a
Poisson buyer, about 3.3 purchases a year while alive, with an exponential lifetime: a
buy-till-you-die population) and ``marts.dim_customers``, made once per size. Then
:func:`cx.models.retention.run` runs as the DAG task runs it: read, score as of the
last day, write ``customer_value``, ``retention_targets`` and ``model_runs``. Prints
wall seconds, rows, the published version and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

START, DAYS = date(2023, 1, 1), 400


def make_warehouse(path: Path, customers: int, seed: int = 0) -> int:
    import duckdb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 3.3 / 365, customers)
    life = rng.exponential(300, customers)
    first = rng.integers(0, DAYS, customers)
    span = np.minimum(life, DAYS - first)
    who = np.repeat(np.arange(customers), rng.poisson(rate * span) + 1)
    opening = np.r_[True, who[1:] != who[:-1]]  # each customer's first order opens their history
    day = (first[who] + np.where(opening, 0, rng.random(who.size) * span[who])).astype("int64")
    orders = pd.DataFrame({"who": who, "day": day, "amount": rng.gamma(2, 30, who.size).round(2)})
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.register("o", orders)
        con.execute(
            f"""create table marts.fct_orders as select 'C' || lpad(who::varchar, 8, '0') as customer_id,
            date '{START}' + day::integer as order_date, 'delivered' as status, amount as order_amount,
            0.0 as returned_amount, true as is_purchase from o"""
        )
        con.execute("create table marts.dim_customers as select distinct customer_id from marts.fct_orders")
        return int(con.execute("select count(*) from marts.fct_orders").fetchone()[0])
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/retention_scale"))
    args = parser.parse_args(argv)
    folder = args.root / str(args.customers)
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = folder / "cx.duckdb"
    os.environ.update(CX_WAREHOUSE=str(warehouse), CX_ARTIFACTS_DIR=str(folder / "artifacts"))
    if not warehouse.exists():
        print(f"{make_warehouse(warehouse, args.customers):,} orders for {args.customers:,} customers")
    from cx.models.retention import run

    began = time.perf_counter()
    summary = run(START + timedelta(days=DAYS - 1))
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.customers:,} customers: {seconds:.1f} s, {summary['rows']:,} scored, {summary['targets']} targets, "
        f"{summary['model_version']}, peak {peak:,.0f} MB, load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

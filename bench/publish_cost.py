"""What the atomic publish costs at a given size, on a synthetic warehouse.

The tables publish reads, shaped and sized as at N customers (per customer: 3.3
orders a year, 1 review, 10 recommendations; see docs/scaling.md), with a year of
orders and one day of model outputs. Times the whole publish (one transaction) and
its two copies that did not exist when fct_orders was a view and the stages wrote
to main directly: the order facts, and the day's recommendations.

    .venv/bin/python bench/publish_cost.py --customers 1000000 --out /tmp/publish.duckdb
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from cx.publish import publish

AS_OF = date(2024, 12, 31)


def build(con: duckdb.DuckDBPyConnection, customers: int) -> None:
    orders, products = int(customers * 3.3), min(20_000, max(100, customers * 12 // 100))
    day = f"date '{AS_OF}'"
    con.execute("create schema marts; create schema model_outputs")
    con.execute(f"""create table marts.dim_customers as
        select 'c' || i as customer_id, timestamp '2024-01-01' + to_days((i % 365)::int) as first_seen_at,
               timestamp '2024-06-01' as last_order_at, 3 as orders_count, 120.5 as revenue_total, 30 as recency_days,
               3 as frequency, 110.0 as monetary, md5(i::varchar) as email_hash, 'female' as gender,
               '25-34' as age_band, 'City ' || (i % 500) as city, 'Region' as region, 'GB' as country,
               date '2023-01-01' as signup_date, 400 as tenure_days, (i % 40) as web_sessions, {day} as as_of_date
        from range({customers}) t(i)""")
    con.execute(f"""create table marts.dim_products as
        select 'p' || i as product_id, 'Product ' || i as name, 'cat' || (i % 12) as category, null as brand,
               2.5 + i % 50 as price, 4.1 as avg_rating, 3 as ratings_count, true as is_product, true as is_available,
               timestamp '2023-01-01' as first_seen_at, timestamp '2024-12-30' as last_sold_at, {day} as as_of_date
        from range({products}) t(i)""")
    con.execute(f"""create table marts.fct_texts as
        select 'r' || i as text_id, 'review' as source, 'c' || i as customer_id, 'p' || (i % {products}) as product_id
        from range({customers}) t(i)""")
    con.execute(f"""create table marts.fct_orders as
        select 'o' || i as order_id, 'c' || (i % {customers}) as customer_id,
               timestamp '2024-01-01' + to_seconds((i * 9)::bigint % 31536000) as ordered_at, 'delivered' as status,
               'web' as channel, 'GBP' as currency, 2 as items_count, 3.0 as units, 40.0 + i % 70 as order_amount,
               0.0 as returned_amount, {day} as as_of_date
        from range({orders}) t(i)""")
    con.execute(f"""create table marts.quarantine as
        select 'orders' as source, 'orders/2024-12-31/a.csv' as file, i as line, 'duplicate_row' as reason,
               '<raw>' as raw, {day} as as_of_date from range({orders // 200}) t(i)""")
    con.execute(f"""create table marts.reconciliation as
        select 'orders' as source, {day} - to_days(i::int) as landing_date, 100 as landing_rows, 99 as clean_rows,
               1 as quarantined_rows, true as is_balanced from range(365) t(i)""")
    con.execute(f"""create table model_outputs.customer_recommendations as
        select 'c' || (i // 10) as customer_id, (i % 10 + 1)::integer as rank, 'p' || (i % {products}) as product_id,
               1.0 / (1 + i % 10) as score, 'lightfm-hybrid-v1' as model_version, {day} as as_of_date
        from range({customers * 10}) t(i)""")
    con.execute(f"""create table model_outputs.customer_segments as
        select 'c' || i as customer_id, (i % 5)::integer as segment_id, 'segment ' || (i % 5) as segment_name,
               {day} as as_of_date from range({customers}) t(i)""")
    con.execute(f"""create table model_outputs.review_sentiment as
        select 'r' || i as review_id, ((i % 200) - 100) / 100.0 as sentiment_score, 'neutral' as sentiment_label,
               'v1' as model_version, 4 as rating, false as rating_conflict, {day} as as_of_date
        from range({customers}) t(i)""")
    con.execute("checkpoint")


def timed(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[float, float]:
    """Wall and CPU seconds (CPU: all of this process's threads; on a shared machine
    the wall time mostly measures the neighbours)."""
    wall, cpu = time.perf_counter(), time.process_time()
    con.execute(sql)
    return time.perf_counter() - wall, time.process_time() - cpu


def fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.1f} s wall / {pair[1]:.1f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.out.unlink(missing_ok=True)
    con = duckdb.connect(str(args.out))
    con.execute(f"set threads = {args.threads}")
    build(con, args.customers)
    runs = []
    for day in (AS_OF, AS_OF, AS_OF + timedelta(days=1)):  # first publish, a re-run, the next day
        if day != AS_OF:  # the next day: one order changed, the stages wrote a new day
            con.execute("update marts.fct_orders set status = 'returned' where order_id = 'o1'")
            for table in ("customer_recommendations", "customer_segments", "review_sentiment"):
                con.execute(
                    f"insert into model_outputs.{table} select * replace (date '{day}' as as_of_date) "
                    f"from model_outputs.{table} where as_of_date = date '{AS_OF}'"
                )
        wall, cpu = time.perf_counter(), time.process_time()
        publish(con, day)
        con.execute("checkpoint")
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    orders = timed(con, "create or replace table main._bench_orders as select * from marts.fct_orders")
    recs = timed(
        con,
        "create or replace table main._bench_recs as select * from "
        f"model_outputs.customer_recommendations where as_of_date = date '{AS_OF}'",
    )
    print(
        f"customers {args.customers:,}: publish incl. checkpoint: first {fmt(runs[0])}; re-run {fmt(runs[1])}; "
        f"next day {fmt(runs[2])}. For scale: a full copy of fct_orders {fmt(orders)}, "
        f"of one day's recommendations {fmt(recs)}"
    )


if __name__ == "__main__":
    main()

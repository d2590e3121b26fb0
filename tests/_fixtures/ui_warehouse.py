"""A tiny warehouse for the Customer Experience page's tests (test_ui_queries.py,
test_ui_app.py, test_ui_browser.py): ``build_ui_warehouse`` writes the published tables
with the pipeline's own writers (so a schema change there shows up here) and plants PII
in the places the page must never show.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from cx.model_runs import Metric, write_model_runs
from cx.publish import ensure_published_tables, publish_model_outputs
from cx.quality.checkpoint import CheckResult, write_results
from cx.warehouse import replace_partition

D1, D2, D3 = date(2024, 11, 24), date(2024, 11, 25), date(2024, 11, 26)
# Values of the last run the page must show (formatted to 4 significant digits).
LAST_RECS = {
    "p@10": (0.16676, 0.1569),
    "recall@10": (0.51632, 0.49001),
    "ndcg@10": (0.44961, 0.41),
    "coverage": (0.9415, 0.12),
}
PII = ("jane.doe@example.com", "Jane", "Doe", "+44 7700 900123", "12 Acacia Avenue")


def tiny_png() -> bytes:
    """A valid 1x1 PNG, written without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x1f\x77\xb4"))
        + chunk(b"IEND", b"")
    )


def _write_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Dimensions, orders, daily sales, texts with planted PII, interactions."""
    con.execute("""
        create table main.dim_customers as select * from (values
          ('c1', 'a1b2c3', 'Springfield', 4, 310.5, 3, 4, 290.0, 'Champions', date '2024-11-26'),
          ('c2', 'd4e5f6', 'Shelbyville', 1, 20.0, 40, 1, 20.0, 'New', date '2024-11-26'),
          ('c3', '0a0b0c', 'Springfield', 0, 0.0, null, 0, 0.0, null, date '2024-11-26'))
          t(customer_id, email_hash, city, orders_count, revenue_total, recency_days, frequency, monetary,
            segment_name, as_of_date)""")
    con.execute(
        "create table main.dim_products as select 'p' || i as product_id, 'Product ' || i as name, "
        "case when i < 3 then 'Fashion' else 'Home' end as category, date '2024-11-26' as as_of_date "
        "from range(5) t(i)"
    )
    con.execute("""create table main.fct_orders as select 'o' || i as order_id, 'c1' as customer_id,
                   timestamp '2024-11-20 10:00' + to_days(i::int * 2) as ordered_at, 'delivered' as status,
                   'web' as channel, 2 as items_count, 50.0 + i as order_amount, date '2024-11-26' as as_of_date
                   from range(4) t(i)""")
    con.execute("create schema marts; create schema staging")
    # Daily sales: ~200 a day, actuals through 2024-11-28 (two forecast days have arrived).
    con.execute("""create table marts.fct_daily_sales as
                   select date '2024-10-30' + to_days(i::int) as ds, 'total' as series,
                          100.0 + 3 * i as revenue, 20 + (i % 5) as orders, 40.0 as units
                   from range(30) t(i)""")
    texts = [
        ("r1", "review", "c1", "p1", 5, "Lovely", "Great quality, fits well", "2024-11-25 09:00"),
        (
            "r2",
            "review",
            "c1",
            "p2",
            1,
            "Broken",
            f"Arrived broken. My name is {PII[1]} {PII[2]}, write to {PII[0]} or call {PII[3]}.",
            "2024-11-26 08:00",
        ),
        (
            "t1",
            "ticket",
            "c1",
            None,
            None,
            "Refund?",
            f"Still waiting for my refund. Regards, {PII[1]}",
            "2024-11-26 11:00",
        ),
    ]
    con.execute(
        "create table marts.fct_texts (text_id varchar, source varchar, customer_id varchar, "
        "product_id varchar, rating integer, title varchar, body varchar, created_at timestamp)"
    )
    con.executemany("insert into marts.fct_texts values (?, ?, ?, ?, ?, ?, ?, ?)", texts)
    con.execute("create table staging.stg_support_tickets as select 't1' as ticket_id, 'email' as channel")
    con.execute("""create table marts.fct_interactions as select * from (values
                   ('c1', 'p1', 'view', timestamp '2024-11-20 10:00'), ('c1', 'p1', 'view', timestamp '2024-11-21 10:00'),
                   ('c1', 'p0', 'purchase', timestamp '2024-11-22 10:00'),
                   ('c1', 'p2', 'purchase', timestamp '2024-11-27 10:00'))
                   t(customer_id, product_id, interaction_type, occurred_at)""")


def _write_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    raw = f'{{"email": "{PII[0]}", "first_name": "{PII[1]}", "last_name": "{PII[2]}", "phone": "{PII[3]}"}}'
    con.execute(
        "create table main.quarantine (source varchar, file varchar, line bigint, reason varchar, raw varchar, "
        "as_of_date date)"
    )
    con.executemany(
        "insert into main.quarantine values (?, ?, ?, ?, ?, ?)",
        [
            ("customers", "customers/2024-11-26/a.csv", 2, "duplicate_row", raw, D3),
            ("customers", "customers/2024-11-26/a.csv", 3, "duplicate_row", raw, D3),
            (
                "customers",
                "customers/2024-11-26/a.csv",
                4,
                f"unparseable: TOO MANY COLUMNS: Expected 11 found 12 near '{PII[4]}, {PII[0]}'",
                raw,
                D3,
            ),
            ("order_items", "order_items/2024-11-25/b.csv", 7, "orphan_order", '{"order_id": "o9"}', D2),
            ("orders", "orders/2024-11-27/c.csv", 2, "future_timestamp", '{"order_id": "o10"}', date(2024, 11, 27)),
        ],
    )


def _write_models(con: duckdb.DuckDBPyConnection) -> None:
    """Segments, recommendations, sentiment and forecasts with their model_runs rows."""
    sizes = {
        D1: {"Champions": 40, "At risk": 25, "New": 10},
        D2: {"Champions": 42, "At risk": 24, "New": 12},
        D3: {"Champions": 45, "At risk": 20, "New": 15, "Loyal": 5},
    }
    profiles = {
        "Champions": {"recency_days": 5.0, "frequency": 6.2, "monetary": 820.0},
        "At risk": {"recency_days": 70.0, "frequency": 3.1, "monetary": 300.0},
        "New": {"recency_days": 8.0, "frequency": 1.0, "monetary": 45.0},
        "Loyal": {"recency_days": 12.0, "frequency": 4.0, "monetary": 410.0},
    }
    for day, per_segment in sizes.items():
        # c1 is one of the Champions every day.
        rows = [
            ("c1" if (name, i) == ("Champions", 0) else f"c{name}_{i}", j, name)
            for j, (name, n) in enumerate(sorted(per_segment.items()))
            for i in range(n)
        ]
        replace_partition(
            con, "customer_segments", pd.DataFrame(rows, columns=["customer_id", "segment_id", "segment_name"]), day
        )
        write_model_runs(
            con,
            "segmentation",
            "kmeans-rfm-v1",
            [
                Metric("silhouette", 0.41 + day.day / 1000, None, True),
                Metric(
                    "k",
                    float(len(per_segment)),
                    details={"sizes": per_segment, "profiles": {n: profiles[n] for n in per_segment}},
                ),
            ],
            day,
        )
    for day, scale in ((D2, 0.9), (D3, 1.0)):
        metrics = [
            Metric(name, value * scale, base, value * scale > base if name == "p@10" else None)
            for name, (value, base) in LAST_RECS.items()
        ]
        write_model_runs(con, "recommendations", "lightfm-hybrid-v1", metrics, day)
        replace_partition(
            con,
            "customer_recommendations",
            pd.DataFrame(
                {
                    "customer_id": ["c1", "c1", "c2"],
                    "rank": [1, 2, 1],
                    "product_id": ["p1", "p2", "p3"],
                    "score": [0.9, 0.8, 0.7],
                    "model_version": "lightfm-hybrid-v1",
                }
            ),
            day,
        )
    write_model_runs(con, "sentiment", "lexicon-v2", [Metric("accuracy_vs_rating", 0.71, 0.55, True)], D3)
    replace_partition(
        con,
        "review_sentiment",
        pd.DataFrame(
            {
                "review_id": ["r1", "r2"],
                "sentiment_score": [0.5, -0.4],
                "sentiment_label": ["positive", "negative"],
                "model_version": "lexicon-v2",
                "rating": [5, 1],
                "rating_conflict": [False, False],
            }
        ),
        D3,
    )
    replace_partition(
        con,
        "ticket_sentiment",
        pd.DataFrame(
            {
                "ticket_id": ["t1"],
                "sentiment_score": [-0.6],
                "sentiment_label": ["negative"],
                "model_version": "lexicon-v2",
            }
        ),
        D3,
    )
    # The forecast gate is MASE per series: total beats seasonal naive, fashion does not; a
    # coverage miss is calibration context and must not turn the verdict red.
    write_model_runs(
        con,
        "forecast",
        "prophet-log-v1",
        [
            Metric("mase:revenue:total", 0.951, 1.0, True),
            Metric("coverage:revenue:total", 0.62, 0.6, False),
            Metric("mase:revenue:Fashion", 1.08, 1.0, False),
            Metric("coverage:revenue:Fashion", 0.81, 0.7, True),
        ],
        D3,
    )
    replace_partition(
        con,
        "sales_forecast",
        pd.DataFrame(
            {
                "series": ["total"] * 3,
                "metric": ["revenue"] * 3,
                "ds": pd.date_range("2024-11-27", periods=3).date,
                "yhat": [100.0, 110.0, 90.0],
                "yhat_lower": [80.0, 90.0, 70.0],
                "yhat_upper": [120.0, 130.0, 110.0],
                "model_version": "prophet-log-v1",
            }
        ),
        D3,
    )


def _write_checks(con: duckdb.DuckDBPyConnection) -> None:
    """Data-quality results of D2 (all pass) and D3 (e-mail format and order volume fail)."""
    for day, failing in ((D2, 0), (D3, 7)):
        results = [
            CheckResult("stg_orders", "stg_orders", "order_id_unique", "critical", True, 0, 100),
            CheckResult("stg_orders", "stg_orders", "ordered_at_not_future", "critical", True, 0, 100),
            CheckResult(
                "stg_customers",
                "stg_customers",
                "email_format",
                "warning",
                failing == 0,
                failing,
                100,
                samples=[PII[0]],
                details={"partial_unexpected_list": [PII[0]], "samples": [PII[0]], "rows": 100},
            ),
            CheckResult(
                "stg_reviews",
                "stg_reviews",
                "rating_mix",
                "warning",
                None,
                details={"skipped": "fewer than 20 reviews"},
            ),
            CheckResult(
                "stg_orders_volume",
                "stg_orders",
                "volume_vs_trailing_mean",
                "critical",
                failing == 0,
                1 if failing else 0,
                1,
                samples=[{"day": day.isoformat(), "rows": 547, "trailing_mean": 202.6, "ratio": 2.7}],
                details={
                    "expectation_type": "expect_column_values_to_be_between",
                    "column": "ratio",
                    "kwargs": {"column": "ratio", "min_value": 0.5, "max_value": 2.0},
                    "samples": [{"day": day.isoformat(), "rows": 547, "trailing_mean": 202.6, "ratio": 2.7}]
                    if failing
                    else [],
                    "rows": 1,
                },
            ),
        ]
        write_results(con, results, day, {r.suite for r in results})


def build_ui_warehouse(root: Path) -> dict[str, Path]:
    """A warehouse with three run days and the artifacts a run leaves; returns paths."""
    warehouse = root / "warehouse" / "cx.duckdb"
    artifacts_dir = root / "artifacts"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        ensure_published_tables(con)
        _write_facts(con)
        _write_quarantine(con)
        _write_models(con)
        _write_checks(con)
        for day in (D1, D2, D3):  # model_runs reach main through publish
            publish_model_outputs(con, day)
    finally:
        con.close()

    docs = artifacts_dir / "data_docs" / D3.isoformat()
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<!doctype html><title>GX</title><h1 id='gx'>Data Docs of 2024-11-26</h1>")
    (docs / "static").mkdir()
    (docs / "static" / "style.css").write_text("body { color: black; }")
    (artifacts_dir / "data_docs" / "index.html").write_text("<h1>all days</h1>")
    charts = artifacts_dir / "forecast_charts" / D3.isoformat()
    charts.mkdir(parents=True)
    (charts / "total_revenue.png").write_bytes(tiny_png())
    (charts / "fashion_revenue.png").write_bytes(tiny_png())
    (artifacts_dir / "secret.txt").write_text("not for the browser")
    return {"warehouse": warehouse, "artifacts": artifacts_dir}

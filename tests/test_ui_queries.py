"""The Customer Experience page's data: queries on a tiny warehouse, the lock-aware
reader, and the safe file access for Data Docs, charts and dbt docs.

``build_ui_warehouse`` is shared with test_ui_app.py and test_ui_browser.py: it writes
the published tables with the pipeline's own writers (so a schema change there shows
up here) and plants PII in the places the page must never show.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.config import load_settings
from cx.model_runs import Metric, write_model_runs
from cx.publish import ensure_published_tables, publish_model_outputs
from cx.quality.checkpoint import CheckResult, write_results
from cx.ui import artifacts, queries
from cx.ui.reader import UiConfig, Unavailable, read_warehouse
from cx.ui.scrub import scrub
from cx.ui.sections import customer, forecasts, models, overview, quality, segments, sentiment
from cx.ui.views import Loaded, load
from cx.warehouse import replace_partition, warehouse_lock

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


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return build_ui_warehouse(tmp_path_factory.mktemp("ui"))


@pytest.fixture
def con(built):
    connection = duckdb.connect(str(built["warehouse"]), read_only=True)
    yield connection
    connection.close()


@pytest.fixture
def settings(built, monkeypatch, tmp_path):
    monkeypatch.setenv("CX_WAREHOUSE", str(built["warehouse"]))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(built["artifacts"]))
    monkeypatch.setenv("CX_DBT_PROJECT_DIR", str(tmp_path / "no_dbt"))
    return load_settings()


# ------------------------------------------------------------------ queries


def test_run_days_newest_first(con):
    assert queries.as_of_dates(con) == [D3, D2, D1]
    assert queries.latest_as_of(con) == D3


def test_stages_on_the_day(con):
    stages = {s["stage"]: s["rows"] for s in overview.stages_on(con, D3)}
    assert stages == {"data quality": 5, "sentiment": 2, "segmentation": 85, "recommendations": 3, "forecast": 3}
    assert {s["stage"]: s["rows"] for s in overview.stages_on(con, D1)}["recommendations"] == 0


def test_quarantine_by_source_and_reason_without_raw_values(con):
    by = {(r["source"], r["reason"]): (r["rows_day"], r["rows_total"]) for r in quality.quarantine_reasons(con, D3)}
    assert by == {("customers", "duplicate_row"): (2, 2), ("customers", "unparseable: TOO MANY COLUMNS"): (1, 1)}
    assert not any(p in repr(by) for p in PII)
    trend = quality.quarantine_trend(con, D3)
    assert trend[["source", "rows"]].values.tolist() == [["order_items", 1], ["customers", 3]]  # not the 27th


def test_day_checks_failed_first_with_history(con):
    checks = quality.day_checks(con, D3)
    assert [(c["expectation"], c["success"]) for c in checks[:2]] == [
        ("volume_vs_trailing_mean", False),
        ("email_format", False),
    ]
    assert "details" not in checks[0]
    history = quality.check_history(con, D3, days=3)
    assert history[("stg_customers", "email_format")] == " +x"  # not run on D1, passed D2, failed D3
    assert history[("stg_reviews", "rating_mix")] == " --"
    sources = quality.source_history(con, D3).set_index(["table", "as_of_date"])
    assert sources.loc[("stg_orders", pd.Timestamp(D3)), "failed"] == 1


def test_failing_check_explained_without_its_rows(con):
    volume = quality.check_detail(con, D3, "stg_orders_volume", "volume_vs_trailing_mean")
    assert volume["sentence"] == (
        "547 rows on 2024-11-26, 2.7x the trailing mean of 203; allowed: ratio between 0.5 and 2"
    )
    assert volume["expected"] == {"min_value": 0.5, "max_value": 2.0}
    email = quality.check_detail(con, D3, "stg_customers", "email_format")
    assert email["sentence"].startswith("7 rows of 100 break the rule")
    assert email["aggregates"] == []  # its samples are e-mail addresses
    assert not any(p in repr(email) for p in PII)
    assert quality.check_detail(con, D3, "stg_customers", "nope") is None


def test_one_verdict_per_model_from_its_own_gate(con):
    verdicts = {v.model: v for v in models.model_verdicts(con, D3)}
    forecast = verdicts["forecast"]
    # One series beats seasonal naive, one keeps it; total's coverage miss is context, not a failure.
    assert forecast.state == models.PARTLY
    assert forecast.summary.startswith("1 of 2 series: Prophet beats seasonal naive")
    assert {r["metric"] for r in forecast.context_rows} == {"coverage:revenue:total", "coverage:revenue:Fashion"}
    recs = verdicts["recommendations"]
    assert recs.state == models.PUBLISHED and "p@10 0.1668 vs best simple recommender 0.1569 (+6.3%)" in recs.summary
    assert verdicts["segmentation"].state == models.PUBLISHED
    assert verdicts["sentiment"].state == models.NO_GATE  # ran, but recorded no gate row
    assert {v.model: v.state for v in models.model_verdicts(con, D1)}["forecast"] == models.NO_RUN


def test_verdict_rules():
    def row(metric, passed, value=1.0, base=1.0, details=None):
        return {
            "metric": metric,
            "passed": passed,
            "value": value,
            "baseline_value": base,
            "run_as_of": D3,
            "model_version": "v",
            "details": details,
        }

    assert (
        models.verdict("forecast", [row("mase:r:a", True), row("mase:r:b", True), row("coverage:r:a", False)]).state
        == models.PUBLISHED
    )
    assert models.verdict("forecast", [row("mase:r:a", False), row("coverage:r:a", True)]).state == models.BASELINE
    assert models.verdict("recommendations", [row("p@10", False), row("coverage", True)]).state == models.BASELINE
    fell_back = models.verdict(
        "sentiment", [row("macro_f1", True), row("fallback", None, 1.0, None, '{"reason": "too few ratings"}')]
    )
    assert fell_back.state == models.BASELINE and "too few ratings" in fell_back.summary
    assert models.verdict("sentiment", [row("fallback", None, 0.0, None)]).state == models.PUBLISHED
    assert models.verdict("segmentation", [row("silhouette", True), row("stability", False)]).state == models.FAILED
    assert models.verdict("forecast", []).state == models.NO_RUN


def test_kpis_and_changes(con):
    kpis = {k.name: k for k in overview.kpis(con, D3)}
    revenue = kpis["Revenue"]
    assert revenue.value == pytest.approx(100 + 3 * 27) and revenue.change == pytest.approx(181 / 178 - 1)
    assert len(revenue.values) == overview.TREND_DAYS and revenue.days[-1] == D3
    assert kpis["Review sentiment"].value == pytest.approx(-0.4)
    assert kpis["Negative tickets"].value == 1.0
    changes = overview.changes(con, D3)
    assert any(c.startswith("2 check(s) newly failing since 2024-11-25") for c in changes)
    assert "3 rows quarantined (previous day 1)" in changes


def test_segment_profiles_shares_and_moves(con):
    day, features, rows = segments.profiles(con, D3)
    assert day == D3 and features[:3] == ["recency_days", "frequency", "monetary"]
    assert {r["segment"]: r["values"][0] for r in rows}["At risk"] == 70.0
    days, shares = segments.shares(con, D3)
    assert days == [D1, D2, D3] and shares["Champions"][-1] == pytest.approx(45 / 85)
    assert sum(v[-1] for v in shares.values()) == pytest.approx(1.0)
    prev, moves = segments.movements(con, D3)
    assert prev == D2 and {"from_segment": "(new)", "to_segment": "Loyal", "customers": 5} in moves


def test_sentiment_groups_and_scrubbed_negatives(con):
    data = sentiment.collect(con, D3)
    assert {(r["source"], r["label"]): r["texts"] for r in data["distribution"]} == {
        ("review", "negative"): 1,
        ("review", "positive"): 1,
        ("ticket", "negative"): 1,
    }
    assert data["by_channel"][0]["group"] == "email"
    worst = data["negative_reviews"][0]
    assert worst["product_name"] == "Product 2" and worst["sentiment_score"] == -0.4
    assert "[email]" in worst["body"] and "[number]" in worst["body"] and "[name]" in worst["body"]
    assert not any(p in repr(data) for p in PII)


def test_customer_by_id_or_email_hash(con):
    by_id = customer.collect(con, "c1", D3)
    assert by_id["found"] and customer.collect(con, "A1B2C3", D3)["customer_id"] == "c1"
    assert by_id["segment"] == {"name": "Champions", "as_of": D3}
    assert [(r["rank"], r["product_name"], r["score"], r["why"]) for r in by_id["recommendations"]] == [
        (1, "Product 1", 0.9, "they viewed it 2x"),  # what the customer did with it, up to the day only:
        (2, "Product 2", 0.8, "their most bought category (Fashion)"),
    ]  # the purchase of p2 came later
    assert len(by_id["orders"]) == 4 and by_id["orders"][0]["order_id"] == "o3"
    assert [r["sentiment_label"] for r in by_id["reviews"]] == ["negative", "positive"]
    assert by_id["tickets"][0]["body"] == "Still waiting for my refund. Regards, [name]"
    assert "city" not in by_id["profile"] and by_id["profile"]["orders_count"] == 4
    assert not any(p in repr(by_id) for p in PII)
    assert not customer.collect(con, "nobody", D3)["found"]
    assert not customer.valid_lookup(PII[0]) and customer.find(con, PII[0]) is None


def test_forecast_against_the_actuals_that_arrived(con):
    data = forecasts.collect(con, D3)
    assert data["run"] == D3
    (total,) = data["series"]
    assert total["judged"]["days"] == 2  # 27th and 28th have arrived, the 29th not yet
    assert total["judged"]["coverage"] == 0.0  # actuals 181, 184 against bands up to 130
    assert forecasts.collect(con, D2)["run"] is None


def test_scrub_removes_personal_data():
    text = (
        f"My name is {PII[1]} {PII[2]}, mail {PII[0]}, call {PII[3]}, I live at {PII[4]}. "
        "I am very unhappy. Kind regards, Jane"
    )
    out = scrub(text)
    assert not any(p in out for p in PII)
    assert "I am very unhappy" in out  # a lower-case word after a cue is not a name
    assert scrub("Where is O20241120-0000124? Call 0170-1234567") == "Where is O20241120-0000124? Call [number]"
    assert len(scrub("x" * 1000)) == 280


def test_model_metrics_take_each_models_newest_run_up_to_the_day(con):
    m = queries.model_metrics(con, D3)
    recs = m[m.model == "recommendations"].set_index("metric")
    assert recs.loc["p@10", "value"] == pytest.approx(0.16676)
    assert recs.loc["p@10", "baseline_value"] == pytest.approx(0.1569)
    assert recs.loc["p@10", "lift"] == pytest.approx(0.16676 / 0.1569 - 1)
    assert bool(recs.loc["p@10", "passed"]) is True
    assert set(m.model) == {"recommendations", "segmentation", "sentiment", "forecast"}
    earlier = queries.model_metrics(con, D2)
    assert set(earlier.model) == {"recommendations", "segmentation"}  # forecast first ran on D3
    assert earlier.set_index(["model", "metric"]).loc[("recommendations", "p@10"), "value"] == pytest.approx(
        0.16676 * 0.9
    )
    assert set(queries.model_metrics(con, D3, model="sentiment").model) == {"sentiment"}


def test_segment_sizes_over_time(con):
    s = queries.segment_sizes(con, D3)
    wide = s.pivot(index="as_of_date", columns="segment_name", values="customers")
    assert wide.loc[D1, "Champions"] == 40 and wide.loc[D3, "Champions"] == 45
    assert wide.loc[D3, "Loyal"] == 5 and pd.isna(wide.loc[D1, "Loyal"])
    assert list(queries.segment_sizes(con, D3, days=1).as_of_date.unique()) == [D3]
    assert list(queries.segment_sizes(con, D2).as_of_date.unique()) == [D1, D2]


def test_empty_warehouse_gives_empty_results(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        assert queries.as_of_dates(con) == [] and queries.latest_as_of(con) is None
        assert queries.model_metrics(con, D3).empty and queries.segment_sizes(con, D3).empty
        for collect in (overview.collect, segments.collect, sentiment.collect, forecasts.collect):
            collect(con, D3)
        assert quality.day_checks(con, D3) == [] and quality.check_detail(con, D3, "a", "b") is None
        assert not customer.collect(con, "c1", D3)["found"]
    finally:
        con.close()


# ------------------------------------------------------------------ reader


def test_load_resolves_the_day(settings):
    newest = load(settings, None, lambda con, day: {"seen": day})
    assert isinstance(newest, Loaded) and newest.day == D3 and newest.days == [D3, D2, D1] and newest.ran
    assert newest.data == {"seen": D3} and newest.previous_day == D2 and newest.next_day is None
    earlier = load(settings, D2, lambda con, day: {})
    assert earlier.day == D2 and earlier.ran and earlier.next_day == D3
    no_run = load(settings, date(2024, 11, 20), lambda con, day: {})
    assert no_run.day == date(2024, 11, 20) and not no_run.ran


def test_reader_says_busy_while_a_task_holds_the_writer_lock(settings):
    started = time.monotonic()
    with warehouse_lock(settings.warehouse, timeout_s=5):
        result = load(settings, None, lambda con, day: {}, UiConfig(lock_wait_s=0.2))
    assert isinstance(result, Unavailable) and result.retry
    assert "busy" in result.message
    assert time.monotonic() - started < 5
    assert isinstance(load(settings, None, lambda con, day: {}), Loaded)  # released: readable again


def test_reader_says_busy_when_another_process_writes_outside_the_lock(settings):
    # A DuckDB writer that ignores the pipeline's lock (a user's CLI session).
    code = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(settings.warehouse)!r})
        print("open", flush=True)
        sys.stdin.readline()
    """)
    writer = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        result = read_warehouse(settings, queries.as_of_dates)
        assert isinstance(result, Unavailable) and result.retry
    finally:
        writer.communicate("done\n", timeout=30)


def test_reader_without_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "missing" / "cx.duckdb"))
    result = read_warehouse(load_settings(), queries.as_of_dates)
    assert isinstance(result, Unavailable) and not result.retry
    assert not (tmp_path / "missing").exists()  # a page view creates nothing


# ------------------------------------------------------------------ artifacts


def test_safe_file_stays_inside_its_root(tmp_path):
    root = tmp_path / "root"
    (root / "day").mkdir(parents=True)
    (root / "day" / "index.html").write_text("ok")
    (root / ".hidden").write_text("no")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    os.symlink(tmp_path, root / "dirlink")
    assert artifacts.safe_file(root, "day/index.html") == (root / "day" / "index.html").resolve()
    for bad in (
        "../outside.txt",
        "day/../../outside.txt",
        "/etc/passwd",
        str(tmp_path / "outside.txt"),
        "link.txt",
        "dirlink/outside.txt",
        ".hidden",
        "day",
        "",
        "day/index.html\x00.png",
        "day\\..\\..\\outside.txt",
        "missing.html",
    ):
        assert artifacts.safe_file(root, bad) is None, bad


def test_data_docs_days_and_link(settings):
    assert artifacts.data_docs_days(settings) == [D3]
    assert artifacts.data_docs_for(settings, D3) == "2024-11-26/index.html"
    assert artifacts.data_docs_for(settings, D2) is None


def test_forecast_charts_newest_day_on_or_before(settings):
    charts = artifacts.forecast_charts(settings, date(2024, 12, 1))
    assert charts.day == D3
    assert charts.files == ("2024-11-26/fashion_revenue.png", "2024-11-26/total_revenue.png")
    assert artifacts.forecast_charts(settings, D2).files == ()
    assert artifacts.chart_file(settings, "2024-11-26", "total_revenue.png") is not None
    assert artifacts.chart_file(settings, "2024-11-26", "../secret.txt") is None
    assert artifacts.chart_file(settings, "..", "secret.txt") is None
    assert artifacts.chart_title("2024-11-26/total_revenue.png") == "total revenue"


def test_charts_from_the_forecast_stage_folder_too(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path))
    settings = load_settings()
    (settings.charts_dir / "2024-11-20").mkdir(parents=True)
    (settings.charts_dir / "2024-11-20" / "total_orders.png").write_bytes(tiny_png())
    assert artifacts.forecast_charts(settings, D3).files == ("2024-11-20/total_orders.png",)


def test_dbt_docs_only_the_docs_files_from_target(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_DBT_PROJECT_DIR", str(tmp_path / "dbt"))
    settings = load_settings()
    assert artifacts.dbt_docs_root(settings) is None
    target = settings.dbt_docs_dir
    target.mkdir(parents=True)
    for name in ("index.html", "manifest.json", "run_results.json"):
        (target / name).write_text("{}")
    assert artifacts.dbt_docs_file(settings, "manifest.json") is not None
    assert artifacts.dbt_docs_file(settings, "run_results.json") is None
    published = settings.artifacts_dir / "dbt_docs"
    published.mkdir(parents=True)
    (published / "index.html").write_text("docs")
    (published / "extra.json").write_text("{}")
    assert artifacts.dbt_docs_root(settings)[0] == published
    assert artifacts.dbt_docs_file(settings, "extra.json") is not None
    assert artifacts.dbt_docs_file(settings, "../secret") is None


def test_reasons_read_as_sentences_for_the_marts_interaction_types():
    from cx.ui.sections.customer import reasons

    seen = [("P1", "product_view", 7, "home"), ("P1", "add_to_cart", 1, "home"), ("P2", "purchase", 2, "toys")]
    assert reasons(seen, ["P1", "P2"]) == {
        "P1": "they viewed it 7x, put it in the cart",
        "P2": "they bought it 2x",
    }

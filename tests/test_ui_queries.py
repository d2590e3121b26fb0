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
from cx.ui.reader import Overview, UiConfig, Unavailable, read_overview
from cx.warehouse import replace_partition, warehouse_lock

D1, D2, D3 = date(2024, 11, 24), date(2024, 11, 25), date(2024, 11, 26)
# Values of the last run the page must show (formatted to 4 significant digits).
LAST_RECS = {"p@10": (0.16676, 0.1569), "recall@10": (0.51632, 0.49001), "ndcg@10": (0.44961, 0.41), "coverage": (0.9415, 0.12)}
PII = ("jane.doe@example.com", "Jane", "Doe", "+44 7700 900123", "12 Acacia Avenue")


def tiny_png() -> bytes:
    """A valid 1x1 PNG, written without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x1f\x77\xb4")) + chunk(b"IEND", b"")


def build_ui_warehouse(root: Path) -> dict[str, Path]:
    """A warehouse with three run days and the artifacts a run leaves; returns paths."""
    warehouse = root / "warehouse" / "cx.duckdb"
    artifacts_dir = root / "artifacts"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        ensure_published_tables(con)
        con.execute("""
            create table main.dim_customers as select * from (values
              ('c1', 'a1b2c3', 'Springfield', date '2024-11-26'), ('c2', 'd4e5f6', 'Shelbyville', date '2024-11-26'),
              ('c3', '0a0b0c', 'Springfield', date '2024-11-26'))
              t(customer_id, email_hash, city, as_of_date)""")
        con.execute("create table main.dim_products as select 'p' || i as product_id, date '2024-11-26' as as_of_date "
                    "from range(5) t(i)")
        con.execute("create table main.fct_orders as select 'o' || i as order_id, 'c1' as customer_id, "
                    "date '2024-11-26' as as_of_date from range(4) t(i)")
        raw = f'{{"email": "{PII[0]}", "first_name": "{PII[1]}", "last_name": "{PII[2]}", "phone": "{PII[3]}"}}'
        con.execute(
            "create table main.quarantine (source varchar, file varchar, line bigint, reason varchar, raw varchar, "
            "as_of_date date)")
        con.executemany("insert into main.quarantine values (?, ?, ?, ?, ?, ?)", [
            ("customers", "customers/2024-11-26/a.csv", 2, "duplicate_row", raw, D3),
            ("customers", "customers/2024-11-26/a.csv", 3, "duplicate_row", raw, D3),
            ("customers", "customers/2024-11-26/a.csv", 4,
             f"unparseable: TOO MANY COLUMNS: Expected 11 found 12 near '{PII[4]}, {PII[0]}'", raw, D3),
            ("order_items", "order_items/2024-11-25/b.csv", 7, "orphan_order", '{"order_id": "o9"}', D2),
            ("orders", "orders/2024-11-27/c.csv", 2, "future_timestamp", '{"order_id": "o10"}', date(2024, 11, 27)),
        ])
        sizes = {D1: {"Champions": 40, "At risk": 25, "New": 10},
                 D2: {"Champions": 42, "At risk": 24, "New": 12},
                 D3: {"Champions": 45, "At risk": 20, "New": 15, "Loyal": 5}}
        for day, per_segment in sizes.items():
            rows = [(f"c{day.day}_{name}_{i}", j, name) for j, (name, n) in enumerate(sorted(per_segment.items()))
                    for i in range(n)]
            replace_partition(con, "customer_segments",
                              pd.DataFrame(rows, columns=["customer_id", "segment_id", "segment_name"]), day)
            write_model_runs(con, "segmentation", "kmeans-rfm-v1",
                             [Metric("silhouette", 0.41 + day.day / 1000, 0.25, True)], day)
        for day, scale in ((D2, 0.9), (D3, 1.0)):
            metrics = [Metric(name, value * scale, base, value * scale > base if name == "p@10" else None)
                       for name, (value, base) in LAST_RECS.items()]
            write_model_runs(con, "recommendations", "lightfm-hybrid-v1", metrics, day)
            replace_partition(con, "customer_recommendations", pd.DataFrame(
                {"customer_id": ["c1", "c1", "c2"], "rank": [1, 2, 1], "product_id": ["p1", "p2", "p3"],
                 "score": [0.9, 0.8, 0.7], "model_version": "lightfm-hybrid-v1"}), day)
        write_model_runs(con, "sentiment", "lexicon-v2", [Metric("accuracy_vs_rating", 0.71, 0.55, True)], D3)
        replace_partition(con, "review_sentiment", pd.DataFrame(
            {"review_id": ["r1", "r2"], "sentiment_score": [0.5, -0.4], "sentiment_label": ["positive", "negative"],
             "model_version": "lexicon-v2", "rating": [5, 1], "rating_conflict": [False, False]}), D3)
        write_model_runs(con, "forecast", "prophet-log-v1",
                         [Metric("mase:revenue:total", 0.951, 1.0, True), Metric("coverage:revenue:total", 0.78, 0.6, True)], D3)
        replace_partition(con, "sales_forecast", pd.DataFrame(
            {"series": ["total"] * 3, "metric": ["revenue"] * 3, "ds": pd.date_range("2024-11-27", periods=3).date,
             "yhat": [100.0, 110.0, 90.0], "yhat_lower": [80.0, 90.0, 70.0], "yhat_upper": [120.0, 130.0, 110.0],
             "model_version": "prophet-log-v1"}), D3)
        for day, failing in ((D2, 0), (D3, 7)):
            results = [
                CheckResult("stg_orders", "stg_orders", "order_id_unique", "critical", True, 0, 100),
                CheckResult("stg_orders", "stg_orders", "ordered_at_not_future", "critical", True, 0, 100),
                CheckResult("stg_customers", "stg_customers", "email_format", "warning", failing == 0, failing, 100,
                            samples=[PII[0]], details={"partial_unexpected_list": [PII[0]]}),
                CheckResult("stg_reviews", "stg_reviews", "rating_mix", "warning", None,
                            details={"skipped": "fewer than 20 reviews"}),
            ]
            write_results(con, results, day, {r.suite for r in results})
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


def test_stage_status_reports_each_stage_latest_output(con):
    stages = queries.stage_status(con).set_index("stage")
    assert list(stages.index) == [s.name for s in queries.STAGES]
    assert stages.loc["segmentation", "latest_as_of"] == D3
    assert stages.loc["segmentation", "rows"] == 85
    assert stages.loc["recommendations", "rows"] == 3
    assert stages.loc["recommendations", "model_version"] == "lightfm-hybrid-v1"
    assert stages.loc["recommendations", "metrics_passed"] == 1  # only p@10 gates; coverage has no verdict
    assert stages.loc["data quality", "latest_as_of"] == D3
    assert stages.loc["data quality", "rows"] == 4
    assert stages.loc["publish", "latest_as_of"] == D3


def test_published_counts_partition_and_snapshot(con):
    counts = queries.published_counts(con, D3).set_index("table")
    assert counts.loc["customer_segments", "rows"] == 85
    assert counts.loc["customer_segments", "scope"] == "as-of day"
    assert counts.loc["dim_customers", "rows"] == 3
    assert counts.loc["dim_customers", "scope"] == "current snapshot"
    assert counts.loc["dq_results", "rows"] == 4
    assert queries.published_counts(con, D1).set_index("table").loc["customer_recommendations", "rows"] == 0


def test_quarantine_counts_by_source_and_reason_without_raw_values(con):
    q = queries.quarantine_summary(con, D3)
    assert list(q.columns) == ["source", "reason", "rows_as_of", "rows_total"]
    by = {(r.source, r.reason): (r.rows_as_of, r.rows_total) for r in q.itertuples()}
    assert by[("customers", "duplicate_row")] == (2, 2)
    assert by[("customers", "unparseable: TOO MANY COLUMNS")] == (1, 1)
    assert by[("order_items", "orphan_order")] == (0, 1)
    assert ("orders", "future_timestamp") not in by  # arrived after the as-of day
    text = q.to_string()
    assert not any(p in text for p in PII)


def test_dq_summary_and_failures(con):
    summary = queries.dq_summary(con, D3).set_index("severity")
    assert summary.loc["critical"].tolist() == [2, 2, 0, 0]
    assert summary.loc["warning"].tolist() == [2, 0, 1, 1]
    failed = queries.dq_failures(con, D3)
    assert failed[["table", "expectation", "unexpected_count"]].values.tolist() == [["stg_customers", "email_format", 7]]
    assert "details" not in failed.columns
    assert queries.dq_failures(con, D2).empty


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
    assert earlier.set_index(["model", "metric"]).loc[("recommendations", "p@10"), "value"] == pytest.approx(0.16676 * 0.9)
    assert set(queries.model_metrics(con, D3, model="sentiment").model) == {"sentiment"}


def test_segment_sizes_over_time(con):
    s = queries.segment_sizes(con, D3)
    wide = s.pivot(index="as_of_date", columns="segment_name", values="customers")
    assert wide.loc[D1, "Champions"] == 40 and wide.loc[D3, "Champions"] == 45
    assert wide.loc[D3, "Loyal"] == 5 and pd.isna(wide.loc[D1, "Loyal"])
    assert list(queries.segment_sizes(con, D3, days=1).as_of_date.unique()) == [D3]
    assert list(queries.segment_sizes(con, D2).as_of_date.unique()) == [D1, D2]


def test_forecast_series(con):
    f = queries.forecast_series(con, D3)
    assert f[["series", "metric", "days"]].values.tolist() == [["total", "revenue", 3]]
    assert queries.forecast_series(con, D2).empty


def test_empty_warehouse_gives_empty_results(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        assert queries.as_of_dates(con) == [] and queries.latest_as_of(con) is None
        assert queries.stage_status(con)["latest_as_of"].isna().all()
        for frame in (queries.quarantine_summary(con, D3), queries.dq_summary(con, D3), queries.dq_failures(con, D3),
                      queries.model_metrics(con, D3), queries.segment_sizes(con, D3), queries.forecast_series(con, D3)):
            assert frame.empty
        assert (queries.published_counts(con, D3)["rows"] == 0).all()
    finally:
        con.close()


# ------------------------------------------------------------------ reader


def test_read_overview_collects_the_newest_day(settings):
    ov = read_overview(settings)
    assert isinstance(ov, Overview)
    assert ov.as_of == D3 and ov.days == [D3, D2, D1]
    assert not ov.metrics.empty and not ov.segments.empty and not ov.quarantine.empty
    assert read_overview(settings, D2).as_of == D2


def test_reader_says_busy_while_a_task_holds_the_writer_lock(settings):
    started = time.monotonic()
    with warehouse_lock(settings.warehouse, timeout_s=5):
        result = read_overview(settings, cfg=UiConfig(lock_wait_s=0.2))
    assert isinstance(result, Unavailable) and result.retry
    assert "busy" in result.message
    assert time.monotonic() - started < 5
    assert isinstance(read_overview(settings), Overview)  # released: readable again


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
        result = read_overview(settings)
        assert isinstance(result, Unavailable) and result.retry
    finally:
        writer.communicate("done\n", timeout=30)


def test_reader_without_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "missing" / "cx.duckdb"))
    result = read_overview(load_settings())
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
    for bad in ("../outside.txt", "day/../../outside.txt", "/etc/passwd", str(tmp_path / "outside.txt"),
                "link.txt", "dirlink/outside.txt", ".hidden", "day", "", "day/index.html\x00.png",
                "day\\..\\..\\outside.txt", "missing.html"):
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

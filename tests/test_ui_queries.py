"""The Customer Experience page's data: queries on a tiny warehouse, the lock-aware
reader, and the safe file access for Data Docs, charts and dbt docs, on the warehouse of
tests/_fixtures/ui_warehouse.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from _fixtures.ui_warehouse import D1, D2, D3, PII, build_ui_warehouse, tiny_png
from cx.config import load_settings
from cx.ui import artifacts, queries
from cx.ui.reader import UiConfig, Unavailable, read_warehouse
from cx.ui.scrub import scrub
from cx.ui.sections import customer, forecasts, models, overview, quality, retention, segments, sentiment
from cx.ui.views import Loaded, load
from cx.warehouse import warehouse_lock


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
    retention = [row("auc", True, 0.74, 0.68), row("spearman", False, 0.47, 0.47), row("holdout_auc", None)]
    assert models.verdict("retention", retention).state == models.BASELINE  # value kept its baseline
    assert models.verdict("retention", retention[:1]).state == models.PUBLISHED
    label_free = models.verdict("retention", [row("label_free", None, details='{"reason": "short"}')])
    assert label_free.state == models.NO_GATE and "label-free" in label_free.summary


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
        for collect in (overview.collect, segments.collect, sentiment.collect, forecasts.collect, retention.collect):
            collect(con, D3)
        assert quality.day_checks(con, D3) == [] and quality.check_detail(con, D3, "a", "b") is None
        assert not customer.collect(con, "c1", D3)["found"]
    finally:
        con.close()


def test_retention_bands_over_time_and_the_top_at_risk_list(tmp_path):
    from cx.publish import EMPTY_TABLES

    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    try:
        for table in ("customer_value", "retention_targets"):
            con.execute(f"create table main.{table} ({EMPTY_TABLES[table]})")
        for day, high in ((D1, 1), (D2, 3)):
            for i in range(4):
                band = "high" if i < high else "low"
                con.execute(
                    "insert into main.customer_value values (?, ?, ?, 1, ?, ?, 'medium', 'fewer orders lately', 'gbm-v1', ?)",
                    [f"c{i}", 0.2 if band == "high" else 0.9, 0.8 if band == "high" else 0.1, 10.0 * i, band, day],
                )
        con.execute(f"insert into main.retention_targets values ('c2', 1, 24.0, 'x', 'control', date '{D2}')")
        data = retention.collect(con, D2)
        assert data["risk_days"] == [D1, D2]
        assert data["risk"]["high risk"] == [0.25, 0.75] and data["risk"]["low risk"] == [0.75, 0.25]
        assert [t["customer_id"] for t in data["targets"]] == ["c2"] and data["targets"][0]["churn_risk"] == 0.8
        assert data["summary"]["customers"] == 4 and not data["summary"]["label_free"]
        assert retention.collect(con, D1)["targets"] == []
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

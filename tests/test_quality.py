"""The validation stage: suites on small frames, the severity policy, dq_results, run()."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.quality.checkpoint import (
    CheckResult,
    DataQualityError,
    Validator,
    failure_message,
    validate_frames,
    write_results,
)
from cx.quality.policy import Policy, load_policy
from cx.quality.suites import SUITES, RunParams, flag_membership, volume_frame, with_five_star

DAY = date(2024, 1, 10)
PARAMS = RunParams(DAY, DAY, trailing_order_median=30.0, trailing_order_count=100)
TS = pd.Timestamp("2024-01-10 09:30")
LANDED = pd.Timestamp(DAY)


@pytest.fixture(scope="module")
def validator() -> Validator:
    # One GX context for the module: importing GX is the slow part.
    return Validator(Policy())


def clean_frames() -> dict[str, pd.DataFrame]:
    lineage = {"_landing_date": [LANDED] * 3, "_file": ["f.csv"] * 3, "_line": [2, 3, 4]}
    orders = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c2", "c1"],
                           "ordered_at": [TS] * 3, "status": ["placed", "shipped", None],
                           "channel": ["web"] * 3, **lineage})
    items = pd.DataFrame({"order_id": ["o1", "o2", "o3"], "product_id": ["p1", "p2", "p1"],
                          "quantity": [2.0, 1.0, -1.0], "unit_price": [9.5, 20.0, 9.5], **lineage})
    items = flag_membership(items, "order_id", orders["order_id"], "_order_in_fct_orders")
    items["_order_resolved"] = items["_order_in_fct_orders"]
    reviews = with_five_star(pd.DataFrame({
        "review_id": [f"r{i}" for i in range(25)], "created_at": [TS] * 25,
        "customer_id": ["c1"] * 25, "product_id": ["p1"] * 25,
        "rating": [5, 4, 3, 1, 2] * 5, "_landing_date": [LANDED] * 25, "_file": ["r.csv"] * 25,
        "_line": list(range(2, 27)),
    }))
    recs = pd.DataFrame({"customer_id": ["c1", "c1", "c2"], "rank": [1, 2, 1],
                         "product_id": ["p1", "p2", "p1"], "score": [0.9, 0.5, 0.7]})
    recs = flag_membership(recs, "product_id", ["p1", "p2"], "_product_in_dim_products")
    counts = pd.DataFrame({"day": pd.date_range("2024-01-03", "2024-01-10"), "orders": [100, 90, 110, 100, 95, 105, 100, 98]})
    return {
        "stg_orders": orders,
        "stg_orders_volume": volume_frame(counts, DAY, DAY, 7),
        "stg_order_items": items,
        "stg_customers": pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "email": ["a@b.com", "c@d.org", None],
                                       "gender": ["female", None, "other"], "updated_at": [TS] * 3, **lineage}),
        "stg_products": pd.DataFrame({"product_id": ["p1", "p2", "p3"], "category": ["home"] * 3,
                                      "price": [9.5, 20.0, None], "updated_at": [TS] * 3, **lineage}),
        "stg_web_events": pd.DataFrame({"event_id": ["e1", "e2", "e3"], "occurred_at": [TS] * 3,
                                        "event_type": ["page_view", "add_to_cart", "purchase"],
                                        "customer_id": ["c1", None, "c2"], "product_id": [None, "p1", "p2"], **lineage}),
        "stg_reviews": reviews,
        "stg_support_tickets": pd.DataFrame({"ticket_id": ["t1", "t2", "t3"], "created_at": [TS] * 3,
                                             "customer_id": ["c1", "c2", None], "status": ["open", "solved", None],
                                             **lineage}),
        "fct_orders": pd.DataFrame({"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c2", "c1"],
                                    "ordered_at": [TS] * 3, "status": ["placed", "shipped", "placed"],
                                    "channel": ["web"] * 3, "items_count": [1, 1, 1],
                                    "order_amount": [19.0, 20.0, 45.0], "_landing_date": [LANDED] * 3}),
        "dim_customers": pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "orders_count": [2, 1, 0],
                                       "frequency": [2, 1, 0], "revenue_total": [64.0, 20.0, 0.0],
                                       "recency_days": [0.0, 0.0, None], "last_order_at": [TS, TS, None]}),
        "dim_products": pd.DataFrame({"product_id": ["p1", "p2", "p3"], "category": ["home"] * 3,
                                      "price": [9.5, 20.0, 3.0], "avg_rating": [4.5, None, 1.0]}),
        "fct_daily_sales": pd.DataFrame({"ds": [LANDED] * 2, "series": ["total", "home"],
                                         "revenue": [84.0, 84.0], "orders": [3, 3], "units": [4.0, 4.0]}),
        "reconciliation": pd.DataFrame({"source": ["orders", "order_items"], "landing_date": [LANDED] * 2,
                                        "landing_rows": [4, 4], "clean_rows": [3, 3], "quarantined_rows": [1, 1],
                                        "is_balanced": [True, True]}),
        "customer_segments": pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "segment_id": [0, 1, 1],
                                           "segment_name": ["loyal", "new", "new"]}),
        "customer_recommendations": recs,
        "review_sentiment": pd.DataFrame({"review_id": ["r1", "r2", "r3"], "sentiment_score": [0.8, -0.5, 0.0],
                                          "sentiment_label": ["positive", "negative", "neutral"]}),
        "sales_forecast": pd.DataFrame({"series": ["total"] * 3, "metric": ["revenue"] * 3,
                                        "ds": pd.date_range("2024-01-11", periods=3), "yhat": [10.0, 11.0, 12.0],
                                        "yhat_lower": [8.0, 9.0, 10.0], "yhat_upper": [12.0, 13.0, 14.0]}),
    }


def validate_one(validator: Validator, name: str, frame: pd.DataFrame, params: RunParams = PARAMS) -> list[CheckResult]:
    suite = SUITES[name](frame, params)
    # Suite names must be unique within a GX context: suffix each test's suite.
    validate_one.counter = getattr(validate_one, "counter", 0) + 1
    return validator.validate(replace(suite, name=f"{suite.name}_{validate_one.counter}"), frame)


def by_name(results: list[CheckResult], name: str) -> CheckResult:
    return next(r for r in results if r.expectation == name)


@pytest.mark.parametrize("name", list(SUITES))
def test_clean_frame_passes_every_check(validator: Validator, name: str) -> None:
    results = validate_one(validator, name, clean_frames()[name])
    assert results, name
    failed = [r.describe() for r in results if r.success is False]
    assert not failed, failed
    assert all(r.success for r in results), [(r.expectation, r.details) for r in results]


def _dup_key(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[1, "order_id"] = "o1"
    return f


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        f.loc[row, column] = value
        return f
    return mutate


def _orphan(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[2, "order_id"] = "o404"
    f = flag_membership(f, "order_id", ["o1", "o2", "o3"], "_order_in_fct_orders")
    f["_order_resolved"] = f["_order_in_fct_orders"]  # not quarantined either: silently lost
    return f


DEFECTS = [
    # (frame, defect, expected failing check, severity)
    ("fct_orders", _dup_key, "order_id_unique", "critical"),
    ("stg_orders", _dup_key, "order_id_unique_per_day", "warning"),
    ("fct_orders", _set("order_id", 0, None), "order_id_not_null", "critical"),
    ("stg_orders", _set("customer_id", 2, None), "customer_id_not_null", "critical"),
    ("stg_orders", _set("status", 0, "lost"), "status_in_set", "critical"),
    ("fct_orders", _set("status", 1, "teleported"), "status_in_set", "critical"),
    ("stg_web_events", _set("event_type", 0, "hover"), "event_type_in_set", "critical"),
    ("stg_order_items", _set("unit_price", 1, 0.0), "unit_price_positive", "critical"),
    ("stg_order_items", _set("quantity", 0, 0.0), "quantity_non_zero", "critical"),
    ("stg_products", _set("price", 0, -1.0), "price_positive", "critical"),
    ("stg_orders", _set("ordered_at", 1, pd.Timestamp("2030-01-01")), "ordered_at_not_future", "critical"),
    ("stg_reviews", _set("created_at", 3, pd.Timestamp("2024-01-12 00:00:01")), "created_at_not_future", "critical"),
    ("stg_reviews", _set("rating", 0, 9), "rating_1_to_5", "critical"),
    ("stg_reviews", lambda f: with_five_star(f.assign(rating=5)), "five_star_share", "warning"),
    ("stg_order_items", _orphan, "order_resolved", "critical"),
    ("stg_order_items", _orphan, "orphan_share", "warning"),
    ("reconciliation", _set("is_balanced", 1, False), "is_balanced", "critical"),
    ("review_sentiment", _set("sentiment_score", 0, 1.7), "sentiment_score_range", "critical"),
    ("review_sentiment", _set("sentiment_label", 2, "meh"), "sentiment_label_in_set", "critical"),
    ("customer_recommendations", lambda f: f.assign(_product_in_dim_products=[True, False, True]),
     "product_in_dim_products", "critical"),
    ("dim_customers", _set("frequency", 0, 5), "frequency_le_orders_count", "critical"),
    ("fct_orders", lambda f: f.assign(order_amount=[300.0, 310.0, 320.0]), "order_amount_median_vs_trailing_28d",
     "warning"),
    ("stg_orders_volume", lambda f: volume_frame(
        pd.DataFrame({"day": pd.date_range("2024-01-03", "2024-01-10"), "orders": [100] * 7 + [12]}), DAY, DAY, 7),
     "volume_vs_trailing_7d", "warning"),
]


@pytest.mark.parametrize(("frame", "defect", "check", "severity"), DEFECTS,
                         ids=[f"{f}-{c}" for f, _, c, _ in DEFECTS])
def test_defect_fails_the_right_check(validator: Validator, frame: str, defect, check: str, severity: str) -> None:
    results = validate_one(validator, frame, defect(clean_frames()[frame]))
    result = by_name(results, check)
    assert result.success is False, result.details
    assert result.severity == severity
    others = [r.expectation for r in results if r.success is False and r.expectation != check]
    # A defect trips its own check; only the orphan also moves the orphan share.
    assert set(others) <= {"order_resolved", "orphan_share", "order_id_unique_per_day"}, others


def test_error_message_names_table_check_count_and_samples(validator: Validator) -> None:
    frame = clean_frames()["fct_orders"]
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    results = validate_one(validator, "fct_orders", frame)
    failures = [r for r in results if r.success is False and r.severity == "critical"]
    message = failure_message(failures, DAY, DAY)
    assert "marts.fct_orders" in message
    assert "order_id_unique" in message and "expect_column_values_to_be_unique" in message
    assert "2 bad rows of 4" in message
    assert "order_id='o1'" in message


def test_missing_history_skips_with_a_note(validator: Validator) -> None:
    counts = pd.DataFrame({"day": [pd.Timestamp("2024-01-09"), LANDED], "orders": [100, 90]})
    results = validate_one(validator, "stg_orders_volume", volume_frame(counts, DAY, DAY, 7))
    (volume,) = results
    assert volume.success is None and "not enough history" in volume.details["skipped"]
    few = RunParams(DAY, DAY, trailing_order_median=None, trailing_order_count=3)
    skipped = by_name(validate_one(validator, "fct_orders", clean_frames()["fct_orders"], few),
                      "order_amount_median_vs_trailing_28d")
    assert skipped.success is None and "need 30" in skipped.details["skipped"]


def test_policy_file_overrides_severity_and_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Policy().severity("stg_orders.order_id_unique_per_day") == "warning"
    assert Policy().severity("fct_orders.order_id_unique") == "critical"
    path = tmp_path / "policy.yml"
    path.write_text("severity:\n  stg_orders.order_id_unique_per_day: critical\n  '*.is_balanced': warning\n"
                    "thresholds:\n  volume_ratio_min: 0.3\n  sample_size: 2\n")
    monkeypatch.setenv("CX_DQ_POLICY", str(path))
    policy = load_policy()
    assert policy.severity("stg_orders.order_id_unique_per_day") == "critical"
    assert policy.severity("reconciliation.is_balanced") == "warning"
    assert policy.severity("fct_orders.order_id_unique") == "critical"
    assert policy.thresholds.volume_ratio_min == 0.3 and policy.thresholds.sample_size == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"severity": {"x": "fatal"}}))
    with pytest.raises(ValueError, match="fatal"):
        load_policy(bad)


def test_dq_results_written_and_idempotent() -> None:
    results = validate_frames(clean_frames(), PARAMS, Validator(Policy()))
    con = duckdb.connect()
    for _ in range(2):
        write_results(con, results, DAY)
    write_results(con, results[:3], date(2024, 1, 11))
    rows = con.execute("select count(*) from main.dq_results where as_of_date = ?", [DAY]).fetchone()[0]
    assert rows == len(results)
    columns = [r[0] for r in con.execute("describe main.dq_results").fetchall()]
    assert columns[:7] == ["suite", "expectation", "table", "success", "unexpected_count", "severity", "details"]
    assert "as_of_date" in columns
    details = json.loads(con.execute("select details from main.dq_results where expectation = 'order_id_unique' "
                                     "and as_of_date = ?", [DAY]).fetchone()[0])
    assert details["kwargs"] == {"column": "order_id"}


# --- run() against a warehouse built by ingest + dbt ---------------------------------

LANDING = {
    "customers/2024-01-01/c.csv": "customer_id,email,updated_at\nc1, A@B.com ,2024-01-01\nc2,x@y.org,2024-01-01\n",
    "products/2024-01-01/p.csv": "product_id,name,category,price,updated_at\np1,Lamp,Home,10,2024-01-01\n"
                                 "p2,Mug,Kitchen,4.5,2024-01-01\n",
    "orders/2024-01-01/o.csv": "order_id,customer_id,ordered_at,status\no1,c1,2024-01-01 10:00,Shipped\n"
                               "o2,c2,2024-01-01,placed\no3,c2,01/01/2024 11:00,lost\no4,c2,2030-01-01,placed\n",
    "order_items/2024-01-01/i.csv": "order_id,product_id,quantity,unit_price\no1,p1,2,\"1,234.50\"\n"
                                    "o2,p2,1,€3\no9,p1,1,1\no1,p1,-1,0\n",
    "reviews/2024-01-02/r.csv": "review_id,created_at,customer_id,product_id,rating,body\n"
                                "r1,2024-01-02,c1,p1,5,great\nr2,2024-01-02,c1,p1,9,bad\n",
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dq_run")
    for rel, text in LANDING.items():
        (root / "land" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "land" / rel).write_text(text, encoding="utf-8")
    env = {"CX_LANDING_DIR": str(root / "land"), "CX_WAREHOUSE": str(root / "wh" / "cx.duckdb"),
           "CX_ARTIFACTS_DIR": str(root / "artifacts")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from cx.config import load_settings
        from cx.ingest import ingest_range
        from cx.transform import build
        from cx.warehouse import connect

        settings = load_settings()
        with connect(settings) as con:
            ingest_range(con, settings.landing_dir, date(2024, 1, 1), date(2024, 1, 2))
        build(date(2024, 1, 1), date(2024, 1, 2), settings)
    return env


@pytest.mark.e2e
def test_run_writes_results_docs_and_gates(warehouse: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cx.config import load_settings
    from cx.quality.checkpoint import run
    from cx.warehouse import connect

    for key, value in warehouse.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CX_DQ_POLICY", raising=False)
    real_connect = socket.socket.connect

    def no_network(sock, address):  # GX must never phone home
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    settings = load_settings()
    run_from, run_to = date(2024, 1, 1), date(2024, 1, 2)

    summary = run(run_from, run_to)
    assert summary["by_severity"]["critical"]["failed"] == 0
    assert summary["evaluated"] > 40
    docs = Path(summary["data_docs"])
    assert docs.exists() and docs.is_relative_to(settings.data_docs_dir)
    assert (settings.data_docs_dir / "index.html").exists()
    with connect(settings) as con:
        first = con.execute("select count(*) from main.dq_results where as_of_date = ?", [run_to]).fetchone()[0]
    assert first == summary["evaluated"] + summary["skipped"]

    run(run_from, run_to)  # idempotent: the day's rows are replaced, not appended
    with connect(settings) as con:
        assert con.execute("select count(*) from main.dq_results where as_of_date = ?", [run_to]).fetchone()[0] == first
        con.execute("update marts.reconciliation set is_balanced = false where source = 'orders'")
    try:
        with pytest.raises(DataQualityError) as raised:
            run(run_from, run_to)
        message = str(raised.value)
        assert "marts.reconciliation" in message and "is_balanced" in message
        assert "1 bad rows" in message and "source='orders'" in message
        with connect(settings) as con:
            row = con.execute("select success, severity, unexpected_count from main.dq_results "
                              "where as_of_date = ? and expectation = 'is_balanced'", [run_to]).fetchone()
        assert row == (False, "critical", 1)
    finally:
        with connect(settings) as con:
            con.execute("update marts.reconciliation set is_balanced = true where source = 'orders'")

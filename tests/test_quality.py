"""The validation stage: the GX project, every suite on a good and a bad frame, every
generator defect kind, the severity policy, dq_results, Data Docs and run()."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.config import PUBLISHED_TABLES
from cx.contract import IDENTIFYING_COLUMNS, LANDING_SOURCES
from cx.generate.defects import DEFECT_KINDS, QUARANTINE
from cx.quality.checkpoint import (
    FRAMES,
    CheckResult,
    DataQualityError,
    Validator,
    failure_message,
    gate,
    recorded_state_suites,
    share_static_files,
    validate_frames,
    write_results,
)
from cx.quality.policy import Policy, load_policy
from cx.quality.project import PROJECT_DIR, check_project, load_specs, stage_specs, sync
from cx.quality.suites import (
    PARAMETERS,
    RunParams,
    amount_baseline,
    expectation_parameters,
    flag_membership,
    kl_limit,
    prepare,
    rating_baseline,
    volume_frame,
    with_amount_decile,
)

pytestmark = pytest.mark.slow  # every test builds a Great Expectations context

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2024, 1, 10)
TS = pd.Timestamp("2024-01-10 09:30")
LANDED = pd.Timestamp(DAY)
AS_OF = DAY.isoformat()
MIX = (0.1, 0.1, 0.2, 0.3, 0.3)  # the history's 1..5 star mix


def history_params() -> RunParams:
    """A run with four weeks of history: rating mix and order-amount deciles."""
    rng = np.random.default_rng(1)
    ratings = pd.Series(np.repeat([1, 2, 3, 4, 5], [int(400 * w) for w in MIX]))
    weights, rated = rating_baseline(ratings)
    median, edges, amount_weights, orders = amount_baseline(pd.Series(rng.gamma(2.0, 25.0, 3000).round(2)))
    return RunParams(
        DAY,
        DAY,
        recs_top_n=3,
        rating_weights=weights,
        rating_history=rated,
        amount_median=median,
        amount_edges=edges,
        amount_weights=amount_weights,
        amount_history=orders,
    )


PARAMS = history_params()


def lineage(n: int, file: str = "f.csv") -> dict[str, list]:
    return {"_landing_date": [LANDED] * n, "_file": [file] * n, "_line": list(range(2, n + 2))}


def daily_sales() -> pd.DataFrame:
    """A real retail day: 'home' sold more than it took back; 'toys' took back 4 units
    and sold none (a credit note): net negative, and normal."""
    frame = pd.DataFrame(
        {
            "ds": [LANDED] * 3,
            "series": ["total", "home", "toys"],
            "revenue": [19.0, 39.0, -20.0],
            "orders": [3, 3, 0],
            "units": [0.0, 4.0, -4.0],
            "units_sold": [5.0, 5.0, 0.0],
            "units_returned": [5.0, 1.0, 4.0],
        }
    )
    return frame.assign(_total_net_units_non_negative=(frame["series"] != "total") | (frame["units"] >= 0))


def clean_frames() -> dict[str, pd.DataFrame]:
    """One good frame per suite, shaped as checkpoint.FRAMES reads it."""
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c2", "c1"],
            "ordered_at": [TS] * 3,
            "status": ["placed", "shipped", None],
            "channel": ["web"] * 3,
            **lineage(3, "o.csv"),
            "_order_resolved": [True] * 3,
            "_customer_known": [True] * 3,
        }
    )
    items = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "product_id": ["p1", "p2", "p1"],
            "quantity": [2.0, 1.0, -1.0],
            "unit_price": [9.5, 20.0, 9.5],
            **lineage(3, "i.csv"),
        }
    )
    items = flag_membership(items, "order_id", orders["order_id"], "_order_in_fct_orders")
    items["_order_resolved"] = items["_order_in_fct_orders"]
    counts = [int(40 * w) for w in MIX]  # the history's own mix: no divergence
    rated = pd.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(40)],
            "rating": np.repeat([1, 2, 3, 4, 5], counts),
            **lineage(40, "r.csv"),
        }
    )
    rng = np.random.default_rng(2)
    amounts = pd.DataFrame(
        {"order_id": [f"o{i}" for i in range(200)], "order_amount": rng.gamma(2.0, 25.0, 200).round(2)}
    )
    history = pd.DataFrame(
        {"day": pd.date_range("2024-01-03", "2024-01-10"), "rows": [100, 90, 110, 100, 95, 105, 100, 98]}
    )
    recs = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2"],
            "rank": [1, 2, 1],
            "product_id": ["p1", "p2", "p1"],
            "score": [0.9, 0.5, 0.7],
            "model_version": ["v1"] * 3,
            "as_of_date": [AS_OF] * 3,
        }
    )
    recs = flag_membership(recs, "product_id", ["p1", "p2"], "_product_in_dim_products")
    quarantine = pd.DataFrame(
        {
            "source": ["orders", "web_events"],
            "file": ["o.csv", "w.jsonl"],
            "line": [5, 9],
            "reason": ["future_timestamp", "unparseable: not a JSON object"],
            "raw": ["<31 chars>", "<12 chars>"],
            "as_of_date": [LANDED] * 2,
        }
    )
    return {
        "stg_customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "gender": ["female", None, "other"],
                "updated_at": [TS] * 3,
                "_email_normalised": [True] * 3,
                **lineage(3),
            }
        ),
        "stg_products": pd.DataFrame(
            {
                "product_id": ["p1", "p2", "p3"],
                "category": ["home"] * 3,
                "price": [9.5, 20.0, None],
                "updated_at": [TS] * 3,
                **lineage(3),
            }
        ),
        "stg_orders": orders,
        "stg_order_items": items,
        "stg_web_events": pd.DataFrame(
            {
                "event_id": ["e1", "e2", "e3"],
                "occurred_at": [TS] * 3,
                "event_type": ["page_view", "add_to_cart", "purchase"],
                "customer_id": ["c1", None, "c2"],
                "product_id": [None, "p1", "p2"],
                **lineage(3, "w.jsonl"),
            }
        ),
        "stg_reviews": pd.DataFrame(
            {
                "review_id": ["r1", "r2", "r3"],
                "created_at": [TS] * 3,
                "customer_id": ["c1", None, "c2"],
                "product_id": ["p1", "p1", "p2"],
                "rating": [5.0, None, 2.0],
                **lineage(3, "r.csv"),
            }
        ),
        "stg_support_tickets": pd.DataFrame(
            {
                "ticket_id": ["t1", "t2", "t3"],
                "created_at": [TS] * 3,
                "customer_id": ["c1", "c2", None],
                "status": ["open", "solved", None],
                **lineage(3, "t.csv"),
            }
        ),
        "stg_orders_volume": volume_frame(history, DAY, DAY, 7),
        "stg_web_events_volume": volume_frame(history.assign(rows=history["rows"] * 30), DAY, DAY, 7),
        "stg_reviews_rating_mix": rated,
        "fct_orders": pd.DataFrame(
            {
                "order_id": ["o1", "o2", "o3"],
                "ordered_at": [TS] * 3,
                "status": ["placed", "shipped", "placed"],
                "_landing_date": [LANDED] * 3,
            }
        ),
        "fct_orders_amount": with_amount_decile(amounts, PARAMS),
        "dim_customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "last_order_at": [TS, TS, None],
                "as_of_date": [AS_OF] * 3,
            }
        ),
        "dim_products": pd.DataFrame(
            {
                "product_id": ["p1", "p2", "p3"],
                "as_of_date": [AS_OF] * 3,
            }
        ),
        "fct_daily_sales": daily_sales(),
        "quarantine": quarantine,
        "main_dim_customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2"],
                "first_seen_at": [TS] * 2,
                "last_order_at": [TS] * 2,
                "orders_count": [2, 1],
                "revenue_total": [39.0, 20.0],
                "recency_days": [0, 0],
                "frequency": [2, 1],
                "monetary": [19.5, 20.0],
                "segment_id": [1.0, None],
                "segment_name": ["loyal", None],
                "avg_sentiment": [0.5, None],
                "churn_risk": [0.2, None],
                "expected_value": [40.0, None],
                "email_hash": ["ab12", "cd34"],
                "as_of_date": [AS_OF] * 2,
                "_segment_named": [True, True],
            }
        ),
        "main_dim_products": pd.DataFrame(
            {
                "product_id": ["p1", "p2"],
                "name": ["Lamp", "Mug"],
                "category": ["home", "kitchen"],
                "brand": ["b", None],
                "price": [9.5, 4.5],
                "avg_rating": [4.5, None],
                "avg_sentiment": [0.2, None],
                "as_of_date": [AS_OF] * 2,
            }
        ),
        "main_fct_orders": pd.DataFrame(
            {
                "order_id": ["o1", "o2"],
                "customer_id": ["c1", "c2"],
                "ordered_at": [TS] * 2,
                "status": ["placed", "shipped"],
                "channel": ["web"] * 2,
                "items_count": [1, 1],
                "order_amount": [19.0, 20.0],
                "as_of_date": [LANDED] * 2,
            }
        ),
        "main_quarantine": quarantine,
        "customer_segments": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "segment_id": [0, 1, 1],
                "segment_name": ["loyal", "new", "new"],
                "as_of_date": [AS_OF] * 3,
                "_customer_in_dim_customers": [True] * 3,
            }
        ),
        "customer_recommendations": recs,
        "customer_value": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "p_active": [0.9, 0.4, 0.1],
                "churn_risk": [0.1, 0.6, 0.9],
                "expected_orders": [2.5, 0.6, 0.1],
                "expected_value": [120.0, 30.0, 0.0],
                "risk_band": ["low", "medium", "high"],
                "value_band": ["high", "medium", "low"],
                "reasons": ["buys regularly, about every 20 days", "fewer orders lately", "a single purchase"],
                "model_version": ["gbm-v1"] * 3,
                "as_of_date": [AS_OF] * 3,
                "_churn_risk_error": [0.0] * 3,
                "_customer_in_dim_customers": [True] * 3,
                "_customer_has_a_purchase": [True] * 3,
            }
        ),
        "retention_targets": pd.DataFrame(
            {
                "customer_id": ["c3", "c2"],
                "rank": [1, 2],
                "expected_value_at_risk": [40.0, 12.5],
                "experiment": ["retention-save"] * 2,
                "arm": ["treatment", "control"],
                "as_of_date": [AS_OF] * 2,
                "_contactable": [True] * 2,
                "_in_customer_value": [True] * 2,
            }
        ),
        "review_sentiment": pd.DataFrame(
            {
                "review_id": ["r1", "r2", "r3"],
                "sentiment_score": [0.8, -0.5, 0.0],
                "sentiment_label": ["positive", "negative", "neutral"],
                "model_version": ["lex-1"] * 3,
                "as_of_date": [AS_OF] * 3,
            }
        ),
        "sales_forecast": pd.DataFrame(
            {
                "series": ["total"] * 3,
                "metric": ["revenue"] * 3,
                "ds": pd.date_range("2024-01-11", periods=3),
                "yhat": [10.0, 11.0, 12.0],
                "yhat_lower": [8.0, 9.0, 10.0],
                "yhat_upper": [12.0, 13.0, 14.0],
                "yhat_lower_95": [7.0, 8.0, 9.0],
                "yhat_upper_95": [13.0, 14.0, 15.0],
                "model_version": ["p-1"] * 3,
                "as_of_date": [AS_OF] * 3,
                "_category_sum_rel_gap": [0.0, 1e-12, None],
            }
        ),
        "product_demand_forecast": pd.DataFrame(
            {
                "product_id": ["p1", "p1", "p2"],
                "ds": pd.to_datetime(["2024-01-11", "2024-01-12", "2024-01-11"]),
                "yhat": [2.0, 0.0, 0.4],
                "yhat_lower": [0.0, 0.0, 0.0],
                "yhat_upper": [4.0, 0.0, 1.0],
                "model_version": ["tsb-v1", "tsb-v1", "sba-v1"],
                "as_of_date": [AS_OF] * 3,
                "_product_in_dim_products": [True] * 3,
            }
        ),
        "model_runs": pd.DataFrame(
            {
                "model": ["sentiment", "sentiment"],
                "metric": ["macro_f1", "coverage"],
                "value": [0.7, 1.0],
                "baseline_value": [0.5, None],
                "passed": [True, True],
                "as_of_date": [AS_OF] * 2,
            }
        ),
        "dq_results": pd.DataFrame(
            {
                "suite": ["stg_orders", "stg_orders"],
                "expectation": ["a", "b"],
                "table": ["staging.stg_orders"] * 2,
                "success": [True, None],
                "unexpected_count": [0, None],
                "severity": ["critical", "warning"],
                "details": ["{}", "{}"],
                "as_of_date": [AS_OF] * 2,
            }
        ),
    }


@pytest.fixture(scope="module")
def validator() -> Validator:
    # One GX context for the module: importing GX is the slow part.
    return Validator(Policy())


def validate_one(validator: Validator, name: str, frame: pd.DataFrame, params: RunParams = PARAMS) -> list[CheckResult]:
    return validate_frames({name: frame}, params, validator)


def by_name(results: list[CheckResult], name: str) -> CheckResult:
    found = [r for r in results if r.expectation == name]
    assert found, f"no check {name} in {[r.expectation for r in results]}"
    return found[0]


# --- the project ---------------------------------------------------------------------


def test_project_is_consistent_and_covers_every_table() -> None:
    assert check_project(set(PARAMETERS)) == []
    specs = load_specs()
    assert set(FRAMES) == set(specs), "every suite needs a frame and every frame a suite"
    staged = {p.stem for p in (ROOT / "dbt_project" / "models" / "staging").glob("stg_*.sql")}
    assert staged <= {s.name for s in specs.values() if s.table == f"staging.{s.name}"}, "a staged table lacks a suite"
    published = {s.table.split(".", 1)[1] for s in stage_specs("published").values()}
    assert set(PUBLISHED_TABLES) <= published, set(PUBLISHED_TABLES) - published
    for spec in stage_specs("published").values():
        if spec.table.split(".", 1)[1] in PUBLISHED_TABLES:
            assert "contract_columns" in {c.name for c in spec.checks}, spec.name
    # Every required landing column is non-null in its clean staged rows.
    for source, contract in LANDING_SOURCES.items():
        checks = {c.name for c in specs[f"stg_{source}"].checks}
        missing = {f"{c}_not_null" for c in contract.required} - checks
        assert not missing, (source, missing)
    # Expectations with meaning, not only not-null, and both severities in use.
    kinds = {c.type for s in specs.values() for c in s.checks}
    assert {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_kl_divergence_to_be_less_than",
        "expect_column_median_to_be_between",
        "expect_table_columns_to_match_set",
    } <= kinds
    assert {c.severity for s in specs.values() for c in s.checks} == {"critical", "warning"}


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def test_validation_leaves_the_project_untouched(tmp_path: Path) -> None:
    before = _snapshot(PROJECT_DIR)
    fresh = Validator(Policy(), tmp_path / "docs")
    validate_frames({"stg_orders": clean_frames()["stg_orders"]}, PARAMS, fresh)
    assert (fresh.build_docs()).exists()
    assert _snapshot(PROJECT_DIR) == before


def test_sync_registers_a_hand_written_suite(tmp_path: Path) -> None:
    project = tmp_path / "gx"
    shutil.copytree(PROJECT_DIR, project)
    suite = json.loads((project / "expectations" / "stg_orders.json").read_text())
    suite["name"] = "stg_orders_copy"
    for item in (suite, *suite["expectations"]):  # written by hand: no ids yet
        item.pop("id")
    (project / "expectations" / "stg_orders_copy.json").write_text(json.dumps(suite, indent=2))
    assert "suite stg_orders_copy: no validation definition" in " ".join(check_project(set(PARAMETERS), project))
    assert sync(project) == ["stg_orders_copy"]
    assert check_project(set(PARAMETERS), project) == [] and sync(project) == []
    config = (project / "great_expectations.yml").read_text()
    assert "${CX_GX_DATA_DOCS_DIR}" in config and "data_context_id: 6f1d3c2e" in config


# --- every suite on a good frame and a bad one ---------------------------------------


@pytest.mark.parametrize("name", list(load_specs()))
def test_clean_frame_passes_every_check(validator: Validator, name: str) -> None:
    results = validate_one(validator, name, clean_frames()[name])
    assert len(results) == len(load_specs()[name].checks)
    assert all(r.success is True for r in results), [r.describe() for r in results if r.success is not True]


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(f: pd.DataFrame) -> pd.DataFrame:
        f = f.copy()
        if isinstance(value, str) and f[column].dtype != object:
            f[column] = f[column].astype(object)
        f.loc[row, column] = value
        return f

    return mutate


def _copy_row(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda f: pd.concat([f, f.iloc[[row]]], ignore_index=True)


def _orphan_line(f: pd.DataFrame) -> pd.DataFrame:
    # A line whose order never arrived, neither published nor quarantined: silently lost.
    f = _set("order_id", 2, "o404")(f)
    return f.assign(_order_in_fct_orders=[True, True, False], _order_resolved=[True, True, False])


def _orphan_order(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(_order_resolved=[True, False, True], _customer_known=[True, False, True])


# What each defect kind the generator injects looks like if it got past dbt (not
# repaired, not quarantined), and the check that catches it there. The e2e test
# below shows the real path: dbt repairs or quarantines every injected row and the
# suites pass.
LEAKS: list[tuple[str, str, Callable[[pd.DataFrame], pd.DataFrame], str, str]] = [
    # (defect kind, suite, leak, check that catches it, severity)
    ("timestamp_format", "stg_orders", _set("ordered_at", 1, None), "ordered_at_not_null", "critical"),
    ("timestamp_format", "stg_web_events", _set("occurred_at", 0, None), "occurred_at_not_null", "critical"),
    ("email_format", "stg_customers", _set("_email_normalised", 0, False), "email_normalised", "warning"),
    ("empty_string_null", "stg_web_events", _set("customer_id", 0, "  "), "customer_id_trimmed", "critical"),
    ("empty_string_null", "stg_customers", _set("gender", 1, " "), "gender_in_set", "critical"),
    ("number_format", "stg_order_items", _set("unit_price", 0, None), "unit_price_not_null", "critical"),
    ("enum_case", "stg_orders", _set("status", 0, "Shipped "), "status_in_set", "critical"),
    ("enum_case", "stg_web_events", _set("event_type", 1, "ADD_TO_CART"), "event_type_in_set", "critical"),
    ("duplicate_row", "stg_orders", _copy_row(0), "order_id_unique_per_day", "warning"),
    (
        "duplicate_file",
        "stg_web_events",
        lambda f: pd.concat([f, f.assign(_file="w_resent.jsonl")], ignore_index=True),
        "event_id_unique_per_day",
        "warning",
    ),
    ("unknown_enum", "stg_web_events", _set("event_type", 0, "teleport"), "event_type_in_set", "critical"),
    ("unknown_enum", "stg_web_events", _set("event_type", 0, None), "event_type_not_null", "critical"),
    ("nonpositive_price", "stg_order_items", _set("unit_price", 1, 0.0), "unit_price_positive", "critical"),
    ("nonpositive_price", "stg_products", _set("price", 0, -3.5), "price_positive", "critical"),
    ("orphan_key", "stg_order_items", _orphan_line, "order_resolved", "critical"),
    ("orphan_key", "stg_order_items", _orphan_line, "orphan_share", "warning"),
    ("orphan_key", "stg_orders", _orphan_order, "order_resolved", "critical"),
    (
        "future_timestamp",
        "stg_orders",
        _set("ordered_at", 1, pd.Timestamp("2030-01-01")),
        "ordered_at_not_future",
        "critical",
    ),
    # One second past the tolerance (run's day + 1 day): the limit is the run's date, not the clock.
    (
        "future_timestamp",
        "stg_reviews",
        _set("created_at", 2, pd.Timestamp("2024-01-12 00:00:01")),
        "created_at_not_future",
        "critical",
    ),
    ("missing_required_key", "stg_orders", _set("order_id", 0, None), "order_id_not_null", "critical"),
    ("missing_required_key", "stg_order_items", _set("product_id", 1, None), "product_id_not_null", "critical"),
]

# Checks that are not about a generator defect: statistics, marts and model outputs.
OTHER_DEFECTS: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str, str]] = [
    ("stg_orders_volume", lambda f: f.assign(rows=12, ratio=0.12), "volume_vs_trailing_mean", "warning"),
    ("stg_web_events_volume", lambda f: f.assign(ratio=3.1), "volume_vs_trailing_mean", "warning"),
    ("stg_reviews_rating_mix", lambda f: f.assign(rating=5), "rating_mix_vs_trailing", "warning"),
    (
        "fct_orders_amount",
        lambda f: with_amount_decile(f.assign(order_amount=f["order_amount"] * 4), PARAMS),
        "order_amount_median_vs_trailing",
        "warning",
    ),
    (
        "fct_orders_amount",
        lambda f: with_amount_decile(
            f.assign(
                order_amount=np.where(
                    f["order_amount"] > f["order_amount"].median(), f["order_amount"] * 3, f["order_amount"] / 3
                )
            ),
            PARAMS,
        ),
        "order_amount_mix_vs_trailing",
        "warning",
    ),
    ("stg_reviews", _set("rating", 0, 9.0), "rating_1_to_5", "critical"),
    ("dim_customers", _set("as_of_date", 1, "2024-01-09"), "as_of_date_in_set", "critical"),
    ("quarantine", _set("reason", 0, "because"), "reason_known", "critical"),
    ("main_dim_customers", lambda f: f.drop(columns=["segment_name"]), "contract_columns", "critical"),
    ("main_dim_customers", _set("avg_sentiment", 0, 1.5), "avg_sentiment_range", "critical"),
    ("main_dim_customers", _set("churn_risk", 0, 1.5), "churn_risk_range", "critical"),
    ("review_sentiment", _set("sentiment_score", 0, 1.7), "sentiment_score_range", "critical"),
    ("review_sentiment", _set("sentiment_label", 2, "meh"), "sentiment_label_in_set", "critical"),
    ("customer_recommendations", _set("_product_in_dim_products", 1, False), "product_in_dim_products", "critical"),
    ("customer_recommendations", _set("rank", 1, 4), "rank_1_to_top_n", "critical"),
    ("customer_segments", _set("_customer_in_dim_customers", 0, False), "customer_in_dim_customers", "critical"),
    ("customer_value", _set("p_active", 0, 1.2), "p_active_is_a_probability", "critical"),
    ("customer_value", _set("_churn_risk_error", 1, 0.5), "churn_risk_is_one_minus_p_active", "critical"),
    ("customer_value", _set("risk_band", 2, "doomed"), "risk_band_in_set", "critical"),
    ("customer_value", _set("_customer_has_a_purchase", 0, False), "customer_has_a_purchase", "critical"),
    ("retention_targets", _set("_contactable", 0, False), "no_refused_consent", "critical"),
    ("retention_targets", _set("arm", 1, "maybe"), "arm_in_set", "critical"),
    ("sales_forecast", _set("ds", 0, pd.Timestamp("2024-01-10")), "ds_after_as_of", "critical"),
    ("sales_forecast", _set("yhat_upper", 1, 10.0), "interval_upper_ge_yhat", "warning"),
    ("sales_forecast", _set("_category_sum_rel_gap", 0, 0.01), "categories_add_up_to_total", "critical"),
    ("sales_forecast", _set("yhat_upper_95", 2, 13.0), "interval95_upper_ge_80", "warning"),
    ("product_demand_forecast", _set("yhat_lower", 0, -1.0), "yhat_not_negative", "critical"),
    ("product_demand_forecast", _copy_row(0), "product_ds_unique", "critical"),
    ("product_demand_forecast", _set("_product_in_dim_products", 2, False), "product_in_dim_products", "warning"),
    ("model_runs", _copy_row(0), "model_metric_unique", "critical"),
    ("dq_results", _set("severity", 0, "fatal"), "severity_in_set", "critical"),
]


# Defect kinds whose leak only the marts would show: dbt's tests of the marts catch them
# in the build (docs/checks.md), so no suite repeats them.
CAUGHT_BY_DBT = {
    "stale_version": [("dim_customers", "customer_id", "unique"), ("dim_products", "product_id", "unique")],
    "unparseable_row": [("reconciliation", "is_balanced", "accepted_values")],
}
# The checks docs/checks.md gives to dbt: the marts' keys, relationships and ranges.
MOVED_TO_DBT = [
    *[("fct_orders", column, test) for column, test in [("order_id", "unique"), ("order_id", "not_null")]],
    *[("fct_orders", "customer_id", test) for test in ("not_null", "relationships")],
    ("fct_orders", "status", "accepted_values"),
    *[("fct_orders", column, "accepted_range") for column in ("order_amount", "returned_amount", "items_count")],
    *[("dim_customers", "customer_id", test) for test in ("unique", "not_null")],
    *[("dim_customers", column, "accepted_range") for column in ("orders_count", "revenue_total", "recency_days")],
    *[("dim_products", "product_id", test) for test in ("unique", "not_null")],
    *[("dim_products", column, "accepted_range") for column in ("price", "avg_rating")],
    *[("fct_daily_sales", column, "not_null") for column in ("ds", "series")],
    *[("fct_daily_sales", column, "accepted_range") for column in ("orders", "units_sold", "units_returned")],
    ("reconciliation", "is_balanced", "accepted_values"),
    *[("quarantine", column, "not_null") for column in ("file", "reason")],
]


def _dbt_mart_tests() -> set[tuple[str, str, str]]:
    """(model, column, test) of every column test in dbt_project/models/marts/_models.yml."""
    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "dbt_project/models/marts/_models.yml").read_text())
    found = set()
    for model in spec["models"]:
        for column in model.get("columns", []):
            for test in column.get("data_tests", []):
                found.add((model["name"], column["name"], test if isinstance(test, str) else next(iter(test))))
        for test in model.get("data_tests", []):
            name = next(iter(test))
            for column in test[name].get("arguments", {}).get("combination_of_columns", []):
                found.add((model["name"], column, name))
    return found


def test_every_generator_defect_kind_has_a_leak_test() -> None:
    assert {kind for kind, *_ in LEAKS} | set(CAUGHT_BY_DBT) == {k.name for k in DEFECT_KINDS}
    assert not {kind for kind, *_ in LEAKS} & set(CAUGHT_BY_DBT)


def test_the_checks_left_to_dbt_are_dbt_tests_and_no_suite_repeats_them() -> None:
    declared = _dbt_mart_tests()
    for check in [*MOVED_TO_DBT, *(c for checks in CAUGHT_BY_DBT.values() for c in checks)]:
        assert check in declared, check
    assert {("fct_daily_sales", c, "unique_combination_of_columns") for c in ("ds", "series")} <= declared
    assert {("reconciliation", c, "unique_combination_of_columns") for c in ("source", "landing_date")} <= declared
    # No suite of the marts keeps a key, relationship or range check on those columns.
    specs = load_specs()
    assert "reconciliation" not in specs
    moved = {(model, column) for model, column, _ in MOVED_TO_DBT}
    # dbt's accepted_values lets a NULL status through; the reason codes are the contract's.
    kept = {"status_not_null", "reason_known"}
    repeated = [
        f"{suite}.{check.name}"
        for suite in ("fct_orders", "dim_customers", "dim_products", "fct_daily_sales", "quarantine")
        for check in specs[suite].checks
        if (suite, check.column) in moved and check.name not in kept
    ]
    assert not repeated, repeated


@pytest.mark.parametrize(
    ("kind", "suite", "leak", "check", "severity"), LEAKS, ids=[f"{k}-{s}-{c}" for k, s, _, c, _ in LEAKS]
)
def test_leaked_defect_is_caught(validator: Validator, kind: str, suite: str, leak, check: str, severity: str) -> None:
    results = validate_one(validator, suite, leak(clean_frames()[suite]))
    caught = by_name(results, check)
    assert caught.success is False and caught.severity == severity, caught.details
    line = caught.describe()
    assert load_specs()[suite].table in line and f"{suite}.{check}" in line
    if caught.unexpected_count is not None:  # row-level: count and the bad rows' ids
        assert f"{caught.unexpected_count} bad rows of" in line and "e.g. " in line and "=" in line


@pytest.mark.parametrize(
    ("suite", "defect", "check", "severity"), OTHER_DEFECTS, ids=[f"{s}-{c}" for s, _, c, _ in OTHER_DEFECTS]
)
def test_defect_fails_the_right_check(validator: Validator, suite: str, defect, check: str, severity: str) -> None:
    results = validate_one(validator, suite, defect(clean_frames()[suite]))
    caught = by_name(results, check)
    assert caught.success is False and caught.severity == severity, caught.details


def test_daily_sales_checks_agree_with_real_retail(validator: Validator) -> None:
    """A category-day whose returns exceed its sales passes (clean frame above); a whole
    shop's net-negative day is a warning only. (A negative gross count is impossible:
    dbt's range tests on units_sold and units_returned stop the build.)"""
    shop_returns = daily_sales().assign(units=[-2.0, 2.0, -4.0], units_returned=[7.0, 3.0, 4.0])
    shop_returns["_total_net_units_non_negative"] = (shop_returns["series"] != "total") | (shop_returns["units"] >= 0)
    results = validate_one(validator, "fct_daily_sales", shop_returns)
    gate(results, DAY, DAY, "inputs")  # no exception: a warning
    assert [(r.expectation, r.severity) for r in results if r.failed] == [("total_net_units_non_negative", "warning")]


def test_critical_failure_stops_with_a_readable_message(validator: Validator) -> None:
    frame = _set("ordered_at", 0, pd.Timestamp("2030-01-01"))(clean_frames()["fct_orders"])
    results = validate_one(validator, "fct_orders", frame)
    with pytest.raises(DataQualityError) as raised:
        gate(results, DAY, DAY, "inputs")
    message = str(raised.value)
    assert (
        "1 critical data-quality check(s) failed for run 2024-01-10 (inputs); the model stages will not run" in message
    )
    assert (
        "marts.fct_orders: fct_orders.ordered_at_not_future (expect_column_values_to_be_between on ordered_at)"
        in message
    )
    assert "1 bad rows of 3, e.g. ordered_at='2030-01-01 00:00:00', order_id='o1'" in message
    assert "-- no ordered_at after the end of the run's last day plus the tolerance" in message
    assert [f.expectation for f in raised.value.failures] == ["ordered_at_not_future"]


def test_warnings_let_the_run_continue(validator: Validator, caplog: pytest.LogCaptureFixture) -> None:
    results = validate_one(validator, "stg_orders", _copy_row(0)(clean_frames()["stg_orders"]))
    caplog.set_level(logging.WARNING, logger="cx.quality.checkpoint")
    gate(results, DAY, DAY, "inputs")  # no exception
    assert "stg_orders.order_id_unique_per_day" in caplog.text and "2 bad rows of 4" in caplog.text


def test_aggregate_failure_names_observed_and_expected(validator: Validator) -> None:
    frame = clean_frames()["stg_reviews_rating_mix"].assign(rating=5)
    (mix,) = validate_one(validator, "stg_reviews_rating_mix", frame)
    line = mix.describe()
    assert "staging.stg_reviews: stg_reviews_rating_mix.rating_mix_vs_trailing" in line
    assert "observed 1.2" in line and '"threshold": 0.2' in line  # KL ~ ln(1/0.3); limit for 40 reviews


def test_a_suite_that_cannot_run_fails_readably(validator: Validator) -> None:
    broken = validate_one(validator, "stg_orders", clean_frames()["stg_orders"].drop(columns=["status"]))
    status = by_name(broken, "status_in_set")
    assert status.success is False and status.severity == "critical"
    assert "stg_orders.status_in_set" in status.describe() and "could not run" in status.describe()
    assert by_name(broken, "order_id_not_null").success is True  # the other checks still ran
    # A run without a parameter the suite needs: every check fails, nothing crashes.
    missing = validator.validate(load_specs()["stg_orders_volume"], clean_frames()["stg_orders_volume"], {})
    assert [r.success for r in missing] == [False] and "could not run" in missing[0].describe()


def test_volume_judges_delivered_days_and_leaves_silence_to_freshness(validator: Validator) -> None:
    history = pd.DataFrame(
        {"day": pd.date_range("2024-01-03", "2024-01-09"), "rows": [100, 90, 110, 100, 95, 105, 100]}
    )
    # Nothing arrived on the run's day: no volume row, the suite is skipped with why.
    silent = volume_frame(history, DAY, DAY, 7)
    assert silent.empty
    (volume,) = validate_one(validator, "stg_orders_volume", silent)
    assert volume.success is None and "source_freshness" in volume.details["skipped"]
    # A delivery without one clean row is a volume drop.
    empty_file = volume_frame(pd.concat([history, pd.DataFrame({"day": [LANDED], "rows": [0]})]), DAY, DAY, 7)
    assert empty_file[["rows", "history_days", "ratio"]].values.tolist() == [[0, 7, 0.0]]
    (volume,) = validate_one(validator, "stg_orders_volume", empty_file)
    assert volume.success is False and volume.severity == "warning"


def test_skips_are_recorded_with_a_reason(validator: Validator) -> None:
    short = volume_frame(pd.DataFrame({"day": [pd.Timestamp("2024-01-09"), LANDED], "rows": [100, 90]}), DAY, DAY, 7)
    (volume,) = validate_one(validator, "stg_orders_volume", short)
    assert volume.success is None and "not enough history" in volume.details["skipped"]
    few = clean_frames()["stg_reviews_rating_mix"].head(5)
    (mix,) = validate_one(validator, "stg_reviews_rating_mix", few)
    assert mix.success is None and "only 5 rated reviews" in mix.details["skipped"]
    segments = validate_one(validator, "customer_segments", clean_frames()["customer_segments"].head(0))
    assert all(r.success is None and "model stage did not run" in r.details["skipped"] for r in segments)
    no_history = RunParams(DAY, DAY)
    amount = validate_one(validator, "fct_orders_amount", clean_frames()["fct_orders_amount"], no_history)
    assert all(r.success is None and "need 300 for a baseline" in r.details["skipped"] for r in amount)


def test_older_day_rerun_checks_current_state_marts_against_their_own_day(validator: Validator) -> None:
    """A backfill re-runs day D after D+3 was ingested: dim_customers then describes D+3
    (orders up to D+3), which is right, not a defect; a row of another day still fails."""
    later = DAY + timedelta(days=3)
    frame = clean_frames()["dim_customers"].assign(
        as_of_date=later.isoformat(), last_order_at=[datetime.combine(later, time(12)), TS, None]
    )
    rerun = replace(PARAMS, state_as_of=later)
    assert all(r.success for r in validate_one(validator, "dim_customers", frame, rerun))
    assert not by_name(validate_one(validator, "dim_customers", frame, PARAMS), "as_of_date_in_set").success
    stale = frame.assign(as_of_date=[later.isoformat(), AS_OF, AS_OF])
    assert not by_name(validate_one(validator, "dim_customers", stale, rerun), "as_of_date_in_set").success


def test_baselines_and_limits() -> None:
    weights, n = rating_baseline(pd.Series([5, 5, 4, None, 1]))
    assert n == 4 and weights == pytest.approx((2 / 9, 1 / 9, 1 / 9, 2 / 9, 3 / 9), abs=1e-6)
    # A KL limit shrinks with the sample, never below the floor.
    assert kl_limit(20, 5, 0.05, 0.001) > kl_limit(100, 5, 0.05, 0.001) > kl_limit(10**6, 5, 0.05, 0.001) == 0.05
    median, edges, amount_weights, count = amount_baseline(pd.Series([10.0] * 50 + [20.0] * 50))
    assert median == 15.0 and count == 100 and sum(amount_weights) == pytest.approx(1, abs=1e-4)
    values = expectation_parameters(RunParams(DAY, DAY))
    assert values["latest_allowed_ts"] == "2024-01-12T00:00:00" and values["as_of_dates"] == [AS_OF]
    assert "rating_partition" not in values  # no baseline, no parameter (the suite is skipped)
    assert set(values) <= set(PARAMETERS)
    prepared = prepare("stg_reviews_rating_mix", clean_frames()["stg_reviews_rating_mix"], PARAMS)
    assert prepared.skip is None and prepared.parameters["rating_kl_max"] == kl_limit(40, 5, 0.05, 0.001)


def test_policy_file_overrides_severity_and_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Policy().severity("stg_orders.order_id_unique_per_day", "warning") == "warning"
    path = tmp_path / "policy.yml"
    path.write_text(
        "severity:\n  stg_orders.order_id_unique_per_day: critical\n  '*.is_balanced': warning\n"
        "thresholds:\n  volume_ratio_min: 0.3\n  sample_size: 2\n"
    )
    monkeypatch.setenv("CX_DQ_POLICY", str(path))
    policy = load_policy()
    assert policy.severity("stg_orders.order_id_unique_per_day", "warning") == "critical"
    assert policy.severity("reconciliation.is_balanced", "critical") == "warning"
    assert policy.severity("fct_orders.order_id_unique", "critical") == "critical"
    assert policy.thresholds.volume_ratio_min == 0.3 and policy.thresholds.sample_size == 2
    strict = Validator(policy)
    results = validate_frames({"stg_orders": _copy_row(0)(clean_frames()["stg_orders"])}, PARAMS, strict)
    dup = by_name(results, "order_id_unique_per_day")
    assert dup.severity == "critical" and len(dup.samples) == 2
    with pytest.raises(DataQualityError):
        gate(results, DAY, DAY, "inputs")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"severity": {"x": "fatal"}}))
    with pytest.raises(ValueError, match="fatal"):
        load_policy(bad)
    with pytest.raises(ValueError, match="unknown data-quality thresholds"):
        load_policy(_write(tmp_path / "t.json", {"thresholds": {"volume_ratio": 1}}))


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_dq_results_written_per_stage_and_idempotent(validator: Validator) -> None:
    frames = clean_frames()
    inputs = validate_frames(frames, PARAMS, validator, "inputs")
    published = validate_frames(frames, PARAMS, validator, "published")
    con = duckdb.connect()
    for _ in range(2):
        write_results(con, inputs, DAY, stage_specs("inputs"))
    write_results(con, published, DAY, stage_specs("published"))
    write_results(con, inputs[:3], DAY + timedelta(days=1), stage_specs("inputs"))
    rows = con.execute("select count(*) from main.dq_results where as_of_date = ?", [DAY]).fetchone()[0]
    assert rows == len(inputs) + len(published)
    columns = [r[0] for r in con.execute("describe main.dq_results").fetchall()]
    assert {"suite", "expectation", "table", "success", "unexpected_count", "as_of_date"} <= set(columns)


def test_rerun_of_an_older_day_keeps_its_recorded_state_results(validator: Validator) -> None:
    """A cleared backfill day re-runs after newer days: its dim_* results were recorded
    when it was the newest day, and stay; its partition suites are replaced."""
    con = duckdb.connect()
    assert recorded_state_suites(con, replace(PARAMS, state_as_of=DAY + timedelta(days=3)), ["dim_customers"]) == []
    results = validate_frames(clean_frames(), PARAMS, validator, "inputs")
    write_results(con, results, DAY, stage_specs("inputs"))
    suites = stage_specs("inputs")
    later = replace(PARAMS, state_as_of=DAY + timedelta(days=3))
    assert recorded_state_suites(con, later, suites) == ["dim_customers", "dim_products"]
    assert recorded_state_suites(con, PARAMS, suites) == []  # the newest day: everything is re-validated
    assert recorded_state_suites(con, replace(later, run_to=DAY + timedelta(days=1)), suites) == []  # nothing yet
    details = json.loads(
        con.execute(
            "select details from main.dq_results where suite = 'stg_orders' "
            "and expectation = 'ordered_at_not_future' and as_of_date = ?",
            [DAY],
        ).fetchone()[0]
    )
    assert details["kwargs"]["max_value"].startswith("2024-01-12")  # the parameter as resolved for the run


def test_failure_message_lists_every_failure() -> None:
    failures = [
        CheckResult(
            "s",
            "staging.s",
            "a",
            "critical",
            False,
            3,
            10,
            samples=[{"id": "x"}],
            details={"expectation_type": "t", "column": "c", "why": "because"},
        ),
        CheckResult("s", "staging.s", "b", "critical", False, details={"error": "column c missing"}),
    ]
    message = failure_message(failures, DAY - timedelta(days=2), DAY, "published", Path("/docs/index.html"))
    assert "run 2024-01-08..2024-01-10 (published)" in message
    assert "- staging.s: s.a (t on c): 3 bad rows of 10, e.g. id='x' -- because" in message
    assert "s.b () could not run: column c missing" in message and "Data Docs: /docs/index.html" in message


def test_data_docs_static_files_are_stored_once(tmp_path: Path) -> None:
    root = tmp_path / "data_docs"
    for stage in ("inputs", "published"):
        (root / "2024-01-10" / stage / "static" / "fonts").mkdir(parents=True)
        (root / "2024-01-10" / stage / "static" / "fonts" / "a.otf").write_bytes(b"font" * 100)
    (root / "2024-01-10" / "published" / "static" / "custom.css").write_text("body{}")
    assert share_static_files(root, root / "2024-01-10" / "inputs") == 0  # the first site seeds the copy
    assert share_static_files(root, root / "2024-01-10" / "published") == 400
    first, second = (root / "2024-01-10" / s / "static" / "fonts" / "a.otf" for s in ("inputs", "published"))
    assert first.stat().st_ino == second.stat().st_ino and second.read_bytes() == b"font" * 100
    assert (root / ".static" / "custom.css").read_text() == "body{}"


# --- a generated landing zone through ingest + dbt + run() ---------------------------

START, DAYS = date(2024, 3, 1), 14
END = START + timedelta(days=DAYS - 1)
QUARANTINE_REASON = {
    "unknown_enum": "unknown_enum",
    "nonpositive_price": "non_positive_price",
    "future_timestamp": "future_timestamp",
    "missing_required_key": "missing_required_key",
    "unparseable_row": "unparseable",
    "orphan_key": "orphan",
}


@pytest.fixture(scope="module")
def generated(built_warehouse, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The session's built warehouse (14 days, 300 customers, defects x20 so every kind
    occurs), copied: the quality stage writes its results into it."""
    assert (built_warehouse.first_day, built_warehouse.last_day) == (START, END)
    root = tmp_path_factory.mktemp("dq_generated")
    return {
        "CX_LANDING_DIR": str(built_warehouse.landing_dir),
        "CX_WAREHOUSE": str(built_warehouse.copy_to(root / "wh")),
        "CX_ARTIFACTS_DIR": str(root / "artifacts"),
    }


@pytest.fixture
def env(generated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in generated.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CX_DQ_POLICY", raising=False)
    return generated


@pytest.mark.e2e
def test_generated_defects_are_repaired_or_quarantined(env: dict[str, str]) -> None:
    """The path every injected defect takes: each defective landing row (file, line) is
    either clean in staging (repaired) or in the quarantine with its reason."""
    truth = pd.read_csv(Path(env["CX_LANDING_DIR"]) / "_truth" / "defects.csv", dtype=str)
    assert set(truth["kind"]) == {k.name for k in DEFECT_KINDS}, "every defect kind must occur in this landing zone"
    truth["_file"] = truth["source"] + "/" + truth["date"] + "/" + truth["file"]
    truth["_line"] = truth["line"].astype(int)
    con = duckdb.connect(env["CX_WAREHOUSE"], read_only=True)
    try:
        con.register("truth", truth[["source", "kind", "class", "_file", "_line"]])
        staged = " union all ".join(
            f"select '{s}' as source, _file, _line, _dq_reason from staging.stg_{s}" for s in LANDING_SOURCES
        )
        rows = con.execute(f"""
            select t.kind, t.class, t.source, s._dq_reason, q.reason
            from truth t
            left join ({staged}) s using (source, _file, _line)
            left join marts.quarantine q on q.source = t.source and q.file = t._file and q.line = t._line
        """).fetchdf()
        assert con.execute("select count(*) from marts.reconciliation where not is_balanced").fetchone()[0] == 0
    finally:
        con.close()
    # Copies: one of each pair is quarantined as duplicate_row (which one depends on
    # the file order), so the counts match per source.
    copies = rows.loc[rows["kind"].isin(["duplicate_row", "duplicate_file"])].groupby("source").size()
    con = duckdb.connect(env["CX_WAREHOUSE"], read_only=True)
    try:
        # Counted in pandas: DuckDB 2.0 fails to push this filter into the quarantine view.
        quarantined = con.execute("select source, reason from marts.quarantine").fetchdf()
        dropped = quarantined.loc[quarantined["reason"] == "duplicate_row"].groupby("source").size()
    finally:
        con.close()
    assert copies.sort_index().to_dict() == dropped.sort_index().to_dict()
    for kind, group in rows.groupby("kind"):
        if kind in ("duplicate_row", "duplicate_file"):
            continue
        elif (group["class"] == QUARANTINE).all():
            expected = QUARANTINE_REASON[kind]
            assert group["reason"].fillna("").str.startswith(expected).all(), (kind, group["reason"].unique())
        else:  # repaired: staged as a clean row, never quarantined
            assert group["_dq_reason"].isna().all() and group["reason"].isna().all(), (kind, group.head())


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded(sock, address):  # GX must never phone home
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.mark.e2e
def test_clean_generated_day_passes_both_stages(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cx.config import load_settings
    from cx.publish import publish
    from cx.quality.checkpoint import load_frames, run
    from cx.warehouse import connect

    _no_network(monkeypatch)
    settings = load_settings()
    summary = run(END, END)
    assert summary["by_severity"]["critical"]["failed"] == 0, summary
    # Every check of the stage is accounted for, nearly all evaluated (the statistical
    # suites may lack history on the first days).
    checks = sum(len(spec.checks) for spec in stage_specs("inputs").values())
    assert summary["evaluated"] + summary["skipped"] == checks and not summary["not_validated"]
    assert summary["evaluated"] >= 0.9 * checks, summary
    with connect(settings) as con:
        publish(con, END)  # model tables stay empty: the published suites still check the contract
    published = run(END, END, stage="published")
    assert published["failed"] == 0, published
    # dq_results holds both stages; a re-run replaces its own stage's rows only.
    with connect(settings) as con:
        count = "select count(*) from main.dq_results where as_of_date = ?"
        total = con.execute(count, [END]).fetchone()[0]
        assert total == sum(s["evaluated"] + s["skipped"] for s in (summary, published))
    run(END, END)
    with connect(settings) as con:
        assert con.execute(count, [END]).fetchone()[0] == total
        # No personal data in clear in anything validated (so in no message or Data Docs).
        emails = [
            r[0]
            for r in con.execute("select distinct email from staging.stg_customers where email is not null").fetchall()
        ]
        assert emails
        frames = {
            **load_frames(con, END, END, Policy(), settings).frames,
            **load_frames(con, END, END, Policy(), settings, "published").frames,
        }
    for name, frame in frames.items():
        assert not set(IDENTIFYING_COLUMNS) & set(frame.columns), name
        text = frame.select_dtypes(include="object").astype(str)
        assert not text.apply(lambda c: c.str.contains("@", regex=False)).any().any(), name
    # Data Docs: a day page linking both stages' GX sites, and the home page.
    day = settings.data_docs_dir / END.isoformat()
    assert (day / "inputs" / "index.html").exists() and (day / "published" / "index.html").exists()
    page = (day / "index.html").read_text()
    assert 'href="inputs/index.html"' in page and 'href="published/index.html"' in page
    assert f'href="{END.isoformat()}/index.html"' in (settings.data_docs_dir / "index.html").read_text()
    fonts = sorted((day / "inputs" / "static").rglob("*.otf"))
    assert fonts and all(
        f.stat().st_ino == (day / "published" / "static" / f.relative_to(day / "inputs" / "static")).stat().st_ino
        for f in fonts
    )
    site = "".join(p.read_text(errors="ignore") for p in (day / "inputs").rglob("*.html"))
    assert "stg_orders" in site and not any(e in site for e in emails[:50])


@pytest.mark.e2e
def test_defects_that_survive_dbt_stop_the_run(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a copy of the warehouse, let quarantined rows through as if dbt's rules were
    missing: the run stops, naming each table, check, count and sample rows."""
    from cx.quality.checkpoint import run

    copy = tmp_path / "leaky.duckdb"
    shutil.copy(env["CX_WAREHOUSE"], copy)
    con = duckdb.connect(str(copy))
    try:
        for table in ("stg_orders", "stg_web_events", "stg_order_items"):
            con.execute(
                f"update staging.{table} set _dq_reason = null "
                "where _dq_reason in ('future_timestamp', 'missing_required_key', 'non_positive_price')"
            )
        con.execute("update staging.stg_web_events set _dq_reason = null where _dq_reason = 'unknown_enum'")
        # The orphan rule's output, frozen as a table (dbt may build it as a view), minus the rule.
        con.execute("create table intermediate._leaky as select * from intermediate.int_order_items__validated")
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = 'intermediate' "
            "and table_name = 'int_order_items__validated'"
        ).fetchone()[0]
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} intermediate.int_order_items__validated")
        con.execute("alter table intermediate._leaky rename to int_order_items__validated")
        con.execute(
            "update intermediate.int_order_items__validated set _dq_reason = null where _dq_reason = 'orphan_order'"
        )
    finally:
        con.close()
    monkeypatch.setenv("CX_WAREHOUSE", str(copy))
    with pytest.raises(DataQualityError) as raised:
        run(START, END)  # a bulk run validates the whole window
    message = str(raised.value)
    for expected in (
        "staging.stg_web_events: stg_web_events.occurred_at_not_future",
        "staging.stg_web_events: stg_web_events.event_id_not_null",
        "staging.stg_web_events: stg_web_events.event_type_not_null",
        "staging.stg_order_items: stg_order_items.unit_price_positive",
        "staging.stg_order_items: stg_order_items.order_resolved",
    ):
        assert expected in message, (expected, message)
    line = next(f.describe() for f in raised.value.failures if f.expectation == "unit_price_positive")
    assert "bad rows of" in line and "_file='order_items/" in line and "_line=" in line

"""Publish is the one step that changes `main`, in one transaction per run.

A tiny warehouse whose marts are written here the way dbt leaves them and whose
model outputs are written by the stages' own writers: a run that fails between the
model stages and publish, or inside publish, leaves every published table at the
previous day; a successful publish moves all of them; an older day re-run publishes
its own model partitions and keeps the current state of the newest day.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

import cx.publish
from cx.model_runs import OUTPUT_SCHEMA, Metric, write_model_runs
from cx.publish import publish
from cx.warehouse import replace_partition

D0, D1, D2 = date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11)


def build_marts(con: duckdb.DuckDBPyConnection, as_of: date, orders: list[str]) -> None:
    """What dbt's build of ``as_of`` leaves in `marts` (the columns publish reads)."""
    day = f"date '{as_of}'"
    con.execute("create schema if not exists marts")
    con.execute(f"""create or replace table marts.dim_customers as
        select 'c' || i as customer_id, null::timestamp as first_seen_at, null::timestamp as last_order_at,
               1 as orders_count, 10.0 as revenue_total, 0 as recency_days, 1 as frequency, 10.0 as monetary,
               null as email_hash, null as gender, null as age_band, null as city, null as region, null as country,
               null::date as signup_date, 0 as tenure_days, 0 as web_sessions,
               case i when 0 then true when 1 then false end as marketing_consent, {day} as as_of_date
        from range(3) t(i)""")
    con.execute(f"""create or replace table marts.dim_products as
        select 'p1' as product_id, 'mug' as name, 'home' as category, null as brand, 2.5 as price,
               null::double as avg_rating, 0 as ratings_count, true as is_product, true as is_available,
               null::timestamp as first_seen_at, null::timestamp as last_sold_at, {day} as as_of_date""")
    con.execute("""create or replace table marts.fct_texts as
        select 'r1' as text_id, 'review' as source, 'c0' as customer_id, 'p1' as product_id""")
    values = ", ".join(f"('{o}')" for o in orders)
    con.execute(f"""create or replace table marts.fct_orders as
        select order_id, 'c0' as customer_id, {day}::timestamp as ordered_at, 'placed' as status, 'web' as channel,
               'GBP' as currency, 1 as items_count, 1.0 as units, 10.0 as order_amount, 0.0 as returned_amount,
               {day} as as_of_date
        from (values {values}) t(order_id)""")
    con.execute(f"""create or replace table marts.quarantine as
        select 'orders' as source, 'orders/{as_of}/a.csv' as file, 2 as line, 'duplicate_row' as reason,
               '<raw>' as raw, {day} as as_of_date""")
    con.execute(f"""create or replace table marts.reconciliation as
        select 'orders' as source, {day} as landing_date, 2 as landing_rows, 1 as clean_rows,
               1 as quarantined_rows, true as is_balanced""")


def run_models(con: duckdb.DuckDBPyConnection, as_of: date, segment: str) -> None:
    """The model stages' writes for ``as_of`` (their own writers, into OUTPUT_SCHEMA)."""
    segments = pd.DataFrame({"customer_id": ["c0", "c1", "c2"], "segment_id": [1, 1, 2], "segment_name": segment})
    replace_partition(con, "customer_segments", segments, as_of, schema=OUTPUT_SCHEMA)
    sentiment = pd.DataFrame(
        {
            "review_id": ["r1"],
            "sentiment_score": [0.5],
            "sentiment_label": ["positive"],
            "model_version": ["v1"],
            "rating": [5],
            "rating_conflict": [False],
        }
    )
    replace_partition(con, "review_sentiment", sentiment, as_of, schema=OUTPUT_SCHEMA)
    write_model_runs(con, "segmentation", "v1", [Metric("k", 2.0)], as_of)


def published_days(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The as-of day each published table shows (partitioned tables: their newest)."""
    days = {
        t: con.execute(f"select distinct as_of_date from main.{t}").fetchall()
        for t in ("dim_customers", "dim_products", "fct_orders")
    }
    assert all(len(d) == 1 for d in days.values()), days
    out: dict[str, object] = {t: d[0][0] for t, d in days.items()}
    for table in ("customer_segments", "review_sentiment", "model_runs"):
        out[table] = con.execute(f"select max(as_of_date) from main.{table}").fetchone()[0]
    out["quarantine"] = con.execute("select max(as_of_date) from main.quarantine").fetchone()[0]
    out["reconciliation"] = con.execute("select max(landing_date) from main.reconciliation").fetchone()[0]
    return out


def at(day: date) -> dict[str, date]:
    return dict.fromkeys(
        (
            "dim_customers",
            "dim_products",
            "fct_orders",
            "customer_segments",
            "review_sentiment",
            "model_runs",
            "quarantine",
            "reconciliation",
        ),
        day,
    )


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "cx.duckdb"))
    # A warehouse from before the model_outputs schema: a published segment history,
    # and the order facts as a view on the marts.
    connection.execute(
        "create table main.customer_segments as select 'c0' as customer_id, 7 as segment_id, "
        f"'old' as segment_name, date '{D0}' as as_of_date"
    )
    build_marts(connection, D1, ["o1"])
    connection.execute("create view main.fct_orders as select * from marts.fct_orders")
    run_models(connection, D1, "loyal")
    publish(connection, D1)
    yield connection
    connection.close()


def test_publish_moves_every_table_to_the_run_day_and_adopts_the_history(con) -> None:
    assert published_days(con) == at(D1)
    # No longer a view on the marts: a view on the published snapshot.
    assert (
        "marts."
        not in con.execute(
            "select sql from duckdb_views() where schema_name = 'main' and view_name = 'fct_orders'"
        ).fetchone()[0]
    )
    # The stages' history before model_outputs existed is theirs again (stable segment ids).
    assert con.execute(
        f"select as_of_date from {OUTPUT_SCHEMA}.customer_segments where segment_name = 'old'"
    ).fetchall() == [(D0,)]
    assert con.execute("select segment_name from main.dim_customers where customer_id = 'c0'").fetchone()[0] == "loyal"
    # Marketing consent (a permission, not an identifier) is published as the CRM says, NULL = unknown.
    assert con.execute("select customer_id, marketing_consent from main.dim_customers order by 1").fetchall() == [
        ("c0", True),
        ("c1", False),
        ("c2", None),
    ]


def test_failure_between_models_and_publish_leaves_main_at_the_previous_day(con) -> None:
    build_marts(con, D2, ["o1", "o2"])  # dbt built D2
    run_models(con, D2, "champions")  # the model stages wrote D2, then the run died
    assert published_days(con) == at(D1)
    assert con.execute("select order_id from main.fct_orders").fetchall() == [("o1",)]
    assert con.execute("select distinct segment_name from main.dim_customers").fetchall() == [("loyal",)]


def test_failure_inside_publish_rolls_everything_back(con, monkeypatch: pytest.MonkeyPatch) -> None:
    build_marts(con, D2, ["o1", "o2"])
    run_models(con, D2, "champions")
    # The last statement fails, after the model partitions and dimensions were written.
    monkeypatch.setitem(cx.publish.COPIED_MARTS, "reconciliation", "select * from marts.not_built")
    with pytest.raises(duckdb.CatalogException):
        publish(con, D2)
    assert published_days(con) == at(D1)
    assert con.execute("select count(*) from main.customer_segments where as_of_date = ?", [D2]).fetchone()[0] == 0
    monkeypatch.undo()
    counts = publish(con, D2)  # the re-run publishes the day whole
    assert published_days(con) == at(D2)
    assert counts["fct_orders"] == 2 and counts["customer_segments"] == 3
    assert con.execute("select distinct segment_name from main.dim_customers").fetchall() == [("champions",)]


@pytest.mark.slow
def test_older_day_rerun_publishes_its_partitions_and_keeps_the_current_state(con) -> None:
    build_marts(con, D2, ["o1", "o2"])
    run_models(con, D2, "champions")
    publish(con, D2)
    run_models(con, D1, "loyal again")  # D1 re-run out of order: its models ran again; the marts stay at D2
    publish(con, D1)
    assert published_days(con) == at(D2)
    rows = con.execute(
        "select as_of_date, any_value(segment_name) from main.customer_segments group by 1 order by 1"
    ).fetchall()
    assert rows == [(D0, "old"), (D1, "loyal again"), (D2, "champions")]
    assert con.execute("select distinct segment_name from main.dim_customers").fetchall() == [("champions",)]


@pytest.mark.slow
def test_order_facts_follow_the_marts_row_for_row(con) -> None:
    """The keyed diff writes what changed: a new order, a changed status, an order gone
    from the marts, and a quarantined row resolved later."""
    build_marts(con, D2, ["o2", "o3"])
    con.execute("update marts.fct_orders set status = 'shipped' where order_id = 'o2'")
    con.execute("update marts.quarantine set reason = 'orphan_order'")
    publish(con, D2)
    orders = con.execute("select order_id, status, as_of_date from main.fct_orders order by 1").fetchall()
    assert orders == [("o2", "shipped", D2), ("o3", "placed", D2)]
    assert con.execute("select file, reason from main.quarantine").fetchall() == [
        (f"orders/{D2}/a.csv", "orphan_order")
    ]
    expected = con.execute("select * exclude (as_of_date) from marts.fct_orders order by order_id").fetchall()
    assert con.execute("select * exclude (as_of_date) from main.fct_orders order by order_id").fetchall() == expected


def test_day_without_model_outputs_keeps_the_latest_models(con) -> None:
    build_marts(con, D2, ["o1", "o2"])  # training cadence: no model stage ran for D2
    publish(con, D2)
    days = published_days(con)
    assert days["dim_customers"] == days["fct_orders"] == D2 and days["customer_segments"] == D1
    assert con.execute("select distinct segment_name from main.dim_customers").fetchall() == [("loyal",)]


def test_dim_customers_carries_the_days_churn_risk_and_expected_value(con) -> None:
    values = pd.DataFrame(
        {
            "customer_id": ["c0", "c1"],
            "p_active": [0.8, 0.3],
            "churn_risk": [0.2, 0.7],
            "expected_orders": [1.5, 0.3],
            "expected_value": [40.0, 5.0],
            "risk_band": ["low", "high"],
            "value_band": ["high", "low"],
            "reasons": ["buys regularly, about every 20 days", "a single purchase, 80 days ago"],
            "model_version": ["gbm-v1"] * 2,
        }
    )
    replace_partition(con, "customer_value", values, D1, schema=OUTPUT_SCHEMA)
    publish(con, D1)
    rows = con.execute(
        "select customer_id, churn_risk, expected_value from main.dim_customers order by customer_id"
    ).fetchall()
    assert rows == [("c0", 0.2, 40.0), ("c1", 0.7, 5.0), ("c2", None, None)]  # c2 never bought: not scored
    assert con.execute("select count(*) from main.customer_value where as_of_date = ?", [D1]).fetchone()[0] == 2
    assert con.execute("select count(*) from main.retention_targets").fetchone()[0] == 0  # promised, empty

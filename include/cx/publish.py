"""Publish: move the run's state into the `main` schema, in one transaction.

dbt owns the marts; the model stages write their partitioned outputs to the
``model_outputs`` schema (:data:`cx.model_runs.OUTPUT_SCHEMA`). Neither is what users
read: `main` changes only here, in one transaction per run, so after a failed or
killed run every published table still describes the previous published day.
Publish copies the run's model partitions into `main`, rebuilds the customer and
product dimensions (segment and sentiment joined in), brings the order facts and the
quarantine up to date (a keyed diff: only the rows the run changed are written) and
copies the reconciliation, and makes sure every promised table exists with its
columns even when a source or stage had nothing to say.

Run records are not state and are written by their own steps as the run goes:
``main.dq_results`` (a failed check must be readable after the failure it caused)
and ``main.source_freshness``.
"""

from __future__ import annotations

from datetime import date

import duckdb

from cx.model_runs import DDL as MODEL_RUNS_DDL
from cx.model_runs import OUTPUT_SCHEMA
from cx.warehouse import table_exists, transaction

# Columns of each published table that stages may not have created yet (a shop with
# no reviews has no sentiment). Types follow CONTRACT.md section 2.
EMPTY_TABLES: dict[str, str] = {
    "customer_segments": "customer_id varchar, segment_id integer, segment_name varchar, as_of_date date",
    "customer_recommendations": "customer_id varchar, rank integer, product_id varchar, score double, "
    "model_version varchar, as_of_date date",
    "review_sentiment": "review_id varchar, sentiment_score double, sentiment_label varchar, "
    "model_version varchar, rating integer, rating_conflict boolean, as_of_date date",
    "ticket_sentiment": "ticket_id varchar, sentiment_score double, sentiment_label varchar, "
    "model_version varchar, as_of_date date",
    "sales_forecast": "series varchar, metric varchar, ds date, yhat double, yhat_lower double, "
    "yhat_upper double, yhat_lower_95 double, yhat_upper_95 double, model_version varchar, as_of_date date",
    "product_demand_forecast": "product_id varchar, ds date, yhat double, yhat_lower double, yhat_upper double, "
    "model_version varchar, as_of_date date",
    "customer_value": "customer_id varchar, p_active double, churn_risk double, expected_orders double, "
    "expected_value double, risk_band varchar, value_band varchar, reasons varchar, model_version varchar, "
    "as_of_date date",
    "retention_targets": "customer_id varchar, rank bigint, expected_value_at_risk double, experiment varchar, "
    "arm varchar, as_of_date date",
    "model_runs": MODEL_RUNS_DDL,
    "dq_results": 'suite varchar, expectation varchar, "table" varchar, success boolean, '
    "unexpected_count bigint, severity varchar, details varchar, as_of_date date",
}
# The model stages' partitioned outputs, copied from OUTPUT_SCHEMA for the run's day.
MODEL_OUTPUTS = (
    "customer_segments",
    "customer_recommendations",
    "review_sentiment",
    "ticket_sentiment",
    "sales_forecast",
    "customer_value",
    "retention_targets",
    "product_demand_forecast",
    "model_runs",
)
# Marts published by a keyed diff: only the rows whose content changed since the last
# publish are rewritten (a full copy of fct_orders is millions of rows a day at 1M
# customers). Each: (table, key columns, the marts' rows). fct_orders is kept without
# its as-of stamp in SNAPSHOT_SCHEMA, and main.fct_orders is a view adding the
# published day, so the stamp moving on does not rewrite every order.
SNAPSHOT_SCHEMA = "published"
SYNCED_MARTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        f"{SNAPSHOT_SCHEMA}.fct_orders",
        ("order_id",),
        "select order_id, customer_id, ordered_at, status, channel, currency, items_count, units, order_amount, "
        "returned_amount from marts.fct_orders",
    ),
    (
        "main.quarantine",
        ("source", "file", "line"),
        "select source, file, line, reason, raw, as_of_date from marts.quarantine",
    ),
)
# Small marts copied whole.
COPIED_MARTS: dict[str, str] = {"reconciliation": "select * from marts.reconciliation"}
FCT_ORDERS_VIEW = (
    f"create or replace view main.fct_orders as select orders.*, state.as_of_date "
    f"from {SNAPSHOT_SCHEMA}.fct_orders orders cross join {SNAPSHOT_SCHEMA}.state state"
)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return dict(rows)


def _is_view(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()
    return bool(row) and row[0] == "VIEW"


def adopt_model_history(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Warehouses from before OUTPUT_SCHEMA: once per table, the days `main` holds and
    the stages' schema lacks move there, so the stages find their history (previous
    segments, model versions) from the next run on. The first run after the upgrade
    wrote its outputs before this publish: its stages saw no history of their own."""
    adopted = []
    con.execute(f"create schema if not exists {OUTPUT_SCHEMA}")
    con.execute(f"create table if not exists {OUTPUT_SCHEMA}._adopted (table_name varchar)")
    done = {r[0] for r in con.execute(f"select table_name from {OUTPUT_SCHEMA}._adopted").fetchall()}
    for table in MODEL_OUTPUTS:
        if table in done:
            continue
        if table_exists(con, table) and not _is_view(con, "main", table):
            if not table_exists(con, table, OUTPUT_SCHEMA):
                con.execute(f"create table {OUTPUT_SCHEMA}.{table} as select * from main.{table}")
            else:
                theirs = _columns(con, OUTPUT_SCHEMA, table)
                common = ", ".join(f'"{c}"' for c in _columns(con, "main", table) if c in theirs)
                con.execute(
                    f"insert into {OUTPUT_SCHEMA}.{table} ({common}) select {common} from main.{table} "
                    f"where as_of_date not in (select distinct as_of_date from {OUTPUT_SCHEMA}.{table})"
                )
            adopted.append(table)
        con.execute(f"insert into {OUTPUT_SCHEMA}._adopted values (?)", [table])
    return adopted


def ensure_published_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every promised table exists in `main`: with the stage's own columns once it has
    written, else with the contract's."""
    for table, columns in EMPTY_TABLES.items():
        if table in MODEL_OUTPUTS and table_exists(con, table, OUTPUT_SCHEMA):
            con.execute(f"create table if not exists main.{table} as select * from {OUTPUT_SCHEMA}.{table} limit 0")
        con.execute(f"create table if not exists main.{table} ({columns})")


def _copy_model_partition(con: duckdb.DuckDBPyConnection, table: str, day: date) -> None:
    """Replace main's ``day`` partition of ``table`` with the stage's (an absent stage
    partition, e.g. a day whose models were skipped, leaves main without that day too)."""
    if not table_exists(con, table, OUTPUT_SCHEMA):
        return
    have = _columns(con, "main", table)
    for name, dtype in _columns(con, OUTPUT_SCHEMA, table).items():
        if name not in have:  # a newer stage version adds a column (segmentation's features)
            con.execute(f'alter table main.{table} add column "{name}" {dtype}')
    con.execute(f"delete from main.{table} where as_of_date = ?", [day])
    con.execute(f"insert into main.{table} by name select * from {OUTPUT_SCHEMA}.{table} where as_of_date = ?", [day])


def publish_model_outputs(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """Copy the model stages' ``day`` partitions into `main` (inside the caller's transaction)."""
    ensure_published_tables(con)
    for table in MODEL_OUTPUTS:
        _copy_model_partition(con, table, day)


def _latest_partition(con: duckdb.DuckDBPyConnection, table: str, as_of: date) -> date | None:
    row = con.execute(f"select max(as_of_date) from main.{table} where as_of_date <= ?", [as_of]).fetchone()
    return row[0] if row else None


def state_day(con: duckdb.DuckDBPyConnection, run_day: date) -> date:
    """The day the current-state tables describe: the marts' as-of day (the newest day
    processed), which is later than ``run_day`` when an older day is re-run."""
    if table_exists(con, "dim_customers", "marts"):
        row = con.execute("select max(as_of_date) from marts.dim_customers").fetchone()
        if row and row[0] and row[0] > run_day:
            return row[0]
    return run_day


def publish(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, int]:
    """Publish the run of ``as_of`` into `main` in one transaction; rows per published table.

    The run's model partitions are copied in; the current-state tables (dimensions,
    order facts, quarantine, reconciliation) are rebuilt for the warehouse's state,
    with the model outputs of the state's day: a re-run of an older day publishes
    its own model partitions and leaves the current state as the newest run left it.
    """
    with transaction(con):
        adopt_model_history(con)
        state = state_day(con, as_of)
        publish_model_outputs(con, as_of)
        _build_dimensions(con, state)
        _publish_marts(con, state)
    return published_row_counts(con, as_of)


def _sync_table(con: duckdb.DuckDBPyConnection, target: str, key: tuple[str, ...], sql: str) -> int:
    """Make ``target`` hold the rows of ``sql``, rewriting only the keys whose rows
    changed, appeared or disappeared; returns the number of keys rewritten."""
    schema, table = target.split(".")
    if _is_view(con, schema, table):  # warehouses from before: the marts were exposed as views
        con.execute(f"drop view {target}")
    if not table_exists(con, table, schema):
        con.execute(f"create table {target} as {sql}")
        return -1
    columns = ", ".join(_columns(con, schema, table))
    keys = ", ".join(key)
    on = " and ".join(f"t.{k} = k.{k}" for k in key)
    con.execute(f"""create or replace temp table _cx_keys as
        select {keys} from (select * from ({sql}) except all select {columns} from {target})
        union
        select {keys} from (select {columns} from {target} except all select * from ({sql}))""")
    changed = con.execute("select count(*) from _cx_keys").fetchone()[0]
    if changed:
        con.execute(f"delete from {target} t using _cx_keys k where {on}")
        con.execute(f"insert into {target} select t.* from ({sql}) t semi join _cx_keys k on {on}")
    con.execute("drop table _cx_keys")
    return int(changed)


def _publish_marts(con: duckdb.DuckDBPyConnection, state: date) -> None:
    con.execute(f"create schema if not exists {SNAPSHOT_SCHEMA}")
    for target, key, sql in SYNCED_MARTS:
        _sync_table(con, target, key, sql)
    con.execute(f"create or replace table {SNAPSHOT_SCHEMA}.state as select ?::date as as_of_date", [state])
    if not _is_view(con, "main", "fct_orders"):
        con.execute("drop table if exists main.fct_orders")
    con.execute(FCT_ORDERS_VIEW)
    for table, sql in COPIED_MARTS.items():
        if _is_view(con, "main", table):
            con.execute(f"drop view main.{table}")
        con.execute(f"create or replace table main.{table} as {sql}")


def _build_dimensions(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    segments_day = _latest_partition(con, "customer_segments", as_of)
    value_day = _latest_partition(con, "customer_value", as_of)
    sentiment_day = _latest_partition(con, "review_sentiment", as_of)
    tickets_day = _latest_partition(con, "ticket_sentiment", as_of)
    con.execute(
        """
        create or replace temp view _text_scores as
        select r.review_id as text_id, 'review' as source, r.sentiment_score
        from main.review_sentiment r where r.as_of_date = $sentiment_day
        union all
        select t.ticket_id, 'ticket', t.sentiment_score
        from main.ticket_sentiment t where t.as_of_date = $tickets_day
        """.replace("$sentiment_day", _sql_date(sentiment_day)).replace("$tickets_day", _sql_date(tickets_day))
    )
    con.execute(
        """
        create or replace table main.dim_customers as
        with sentiment as ($sentiment),
        segments as (
            select customer_id, segment_id, segment_name
            from main.customer_segments where as_of_date = $segments_day
        ),
        customer_value as (
            select customer_id, churn_risk, expected_value
            from main.customer_value where as_of_date = $value_day
        )
        select
            customers.customer_id, customers.first_seen_at, customers.last_order_at,
            customers.orders_count, customers.revenue_total, customers.recency_days,
            customers.frequency, customers.monetary,
            segments.segment_id, segments.segment_name,
            round(sentiment.avg_sentiment, 4) as avg_sentiment,
            customer_value.churn_risk, customer_value.expected_value,
            customers.email_hash, customers.gender, customers.age_band, customers.city,
            customers.region, customers.country, customers.signup_date, customers.tenure_days,
            customers.web_sessions, customers.marketing_consent, customers.as_of_date
        from marts.dim_customers customers
        left join segments using (customer_id)
        left join sentiment using (customer_id)
        left join customer_value using (customer_id)
        order by customers.customer_id
        """.replace("$segments_day", _sql_date(segments_day))
        .replace("$value_day", _sql_date(value_day))
        .replace("$sentiment", _mean_sentiment("customer_id"))
    )
    con.execute(
        """
        create or replace table main.dim_products as
        with sentiment as ($sentiment)
        select
            products.product_id, products.name, products.category, products.brand, products.price,
            round(products.avg_rating, 4) as avg_rating, round(sentiment.avg_sentiment, 4) as avg_sentiment,
            products.ratings_count, products.is_product, products.is_available,
            products.first_seen_at, products.last_sold_at, products.as_of_date
        from marts.dim_products products
        left join sentiment using (product_id)
        order by products.product_id
        """.replace("$sentiment", _mean_sentiment("product_id"))
    )


def _mean_sentiment(key: str) -> str:
    """The mean sentiment of each ``key``'s (customer_id, product_id) scored texts."""
    return f"""select texts.{key}, avg(scores.sentiment_score) as avg_sentiment
            from _text_scores scores
            join marts.fct_texts texts using (text_id, source)
            where texts.{key} is not null
            group by texts.{key}"""


def _sql_date(day: date | None) -> str:
    return f"date '{day.isoformat()}'" if day else "null::date"


def published_row_counts(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, int]:
    """Rows per published table: the run's partition for partitioned tables."""
    from cx.config import PUBLISHED_TABLES

    counts: dict[str, int] = {}
    for table in PUBLISHED_TABLES:
        if not table_exists(con, table):  # views count: information_schema lists both
            counts[table] = 0
            continue
        if table in EMPTY_TABLES:
            sql = f"select count(*) from main.{table} where as_of_date = ?"
            counts[table] = con.execute(sql, [as_of]).fetchone()[0]
        else:
            counts[table] = con.execute(f"select count(*) from main.{table}").fetchone()[0]
    return counts

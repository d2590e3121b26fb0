"""Publish: assemble the contract's tables in the `main` schema.

dbt owns the marts; the model stages own their partitioned outputs. This step joins
the two into the customer and product dimensions users read (segment and sentiment
included), exposes the order facts and the quarantine, and makes sure every promised
table exists with its columns even when a source or stage had nothing to say.
"""

from __future__ import annotations

from datetime import date

import duckdb

from cx.model_runs import DDL as MODEL_RUNS_DDL
from cx.warehouse import table_exists

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
    "yhat_upper double, model_version varchar, as_of_date date",
    "model_runs": MODEL_RUNS_DDL,
    "dq_results": "suite varchar, expectation varchar, \"table\" varchar, success boolean, "
    "unexpected_count bigint, severity varchar, details varchar, as_of_date date",
}


def ensure_published_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in EMPTY_TABLES.items():
        con.execute(f"create table if not exists main.{table} ({columns})")


def _latest_partition(con: duckdb.DuckDBPyConnection, table: str, as_of: date) -> date | None:
    row = con.execute(f"select max(as_of_date) from main.{table} where as_of_date <= ?", [as_of]).fetchone()
    return row[0] if row else None


def publish(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, int]:
    """(Re)build the published dimensions and views for the run ``as_of``."""
    ensure_published_tables(con)
    segments_day = _latest_partition(con, "customer_segments", as_of)
    sentiment_day = _latest_partition(con, "review_sentiment", as_of)
    tickets_day = _latest_partition(con, "ticket_sentiment", as_of)
    con.execute("begin transaction")
    try:
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
            with sentiment as (
                select texts.customer_id, avg(scores.sentiment_score) as avg_sentiment
                from _text_scores scores
                join marts.fct_texts texts using (text_id, source)
                where texts.customer_id is not null
                group by texts.customer_id
            ),
            segments as (
                select customer_id, segment_id, segment_name
                from main.customer_segments where as_of_date = $segments_day
            )
            select
                customers.customer_id, customers.first_seen_at, customers.last_order_at,
                customers.orders_count, customers.revenue_total, customers.recency_days,
                customers.frequency, customers.monetary,
                segments.segment_id, segments.segment_name,
                round(sentiment.avg_sentiment, 4) as avg_sentiment,
                customers.email_hash, customers.gender, customers.age_band, customers.city,
                customers.region, customers.country, customers.signup_date, customers.tenure_days,
                customers.web_sessions, customers.as_of_date
            from marts.dim_customers customers
            left join segments using (customer_id)
            left join sentiment using (customer_id)
            order by customers.customer_id
            """.replace("$segments_day", _sql_date(segments_day))
        )
        con.execute(
            """
            create or replace table main.dim_products as
            with sentiment as (
                select texts.product_id, avg(scores.sentiment_score) as avg_sentiment
                from _text_scores scores
                join marts.fct_texts texts using (text_id, source)
                where texts.product_id is not null
                group by texts.product_id
            )
            select
                products.product_id, products.name, products.category, products.brand, products.price,
                round(products.avg_rating, 4) as avg_rating, round(sentiment.avg_sentiment, 4) as avg_sentiment,
                products.ratings_count, products.is_product, products.is_available,
                products.first_seen_at, products.last_sold_at, products.as_of_date
            from marts.dim_products products
            left join sentiment using (product_id)
            order by products.product_id
            """
        )
        con.execute(
            """
            create or replace view main.fct_orders as
            select order_id, customer_id, ordered_at, status, channel, currency, items_count, units,
                   order_amount, returned_amount, as_of_date
            from marts.fct_orders
            """
        )
        con.execute(
            "create or replace view main.quarantine as "
            "select source, file, line, reason, raw, as_of_date from marts.quarantine"
        )
        con.execute("create or replace view main.reconciliation as select * from marts.reconciliation")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return published_row_counts(con, as_of)


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


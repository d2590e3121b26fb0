"""One customer, as the published tables know them: segment and its profile, value
and churn risk once published, recommendations with product names and scores, recent
orders, reviews and tickets with their sentiment (text scrubbed).

A customer is looked up by the published id or by the pseudonymised e-mail hash
(``dim_customers.email_hash``, a salted hash: never an address). Nothing here reads
the restricted zone, and the identifier is never logged.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import main_tables, table_columns
from cx.ui.scrub import scrub

# Published identifiers: ids and hex hashes. Anything else (an e-mail typed in) is refused
# before it reaches a query, so the page never searches by a direct identifier.
LOOKUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
# What a customer did with a product, as the reason line reads it ("{}" is the count).
VERBS = {
    "purchase": "bought it",
    "view": "viewed it",
    "product_view": "viewed it",
    "add_to_cart": "put it in the cart",
    "cart": "put it in the cart",
    "rating": "rated it",
    "return": "returned it",
    "wishlist": "wished for it",
}
# dim_customers columns a profile shows (others may be personal or internal).
PROFILE_COLUMNS = (
    "segment_name",
    "orders_count",
    "revenue_total",
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "web_sessions",
    "avg_sentiment",
    "churn_risk",
    "expected_value",
    "age_band",
    "country",
    "first_seen_at",
    "last_order_at",
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def valid_lookup(value: str) -> bool:
    return bool(LOOKUP.match(value))


def find(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """The customer id for a published id or an e-mail hash, if the warehouse knows it."""
    if "dim_customers" not in main_tables(con) or not valid_lookup(key):
        return None
    hashed = "email_hash" in table_columns(con, "dim_customers")
    row = con.execute(
        "select customer_id from main.dim_customers where customer_id = $k"
        + (" or email_hash = lower($k)" if hashed else "")
        + " limit 1",
        {"k": key},
    ).fetchone()
    return row[0] if row else None


def profile(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any]:
    have = table_columns(con, "dim_customers")
    shown = [c for c in PROFILE_COLUMNS if c in have]
    if not shown:
        return {}
    row = con.execute(f"select {', '.join(shown)} from main.dim_customers where customer_id = ?", [customer_id]).df()
    return _records(row)[0] if not row.empty else {}


def segment(con: duckdb.DuckDBPyConnection, customer_id: str, day: date) -> dict[str, Any] | None:
    """The customer's segment in the newest segmentation run on or before ``day``."""
    if "customer_segments" not in main_tables(con):
        return None
    row = con.execute(
        """
        select segment_name, as_of_date from main.customer_segments
        where customer_id = ? and as_of_date <= ? order by as_of_date desc limit 1""",
        [customer_id, day],
    ).fetchone()
    return {"name": row[0], "as_of": row[1]} if row else None


def value(con: duckdb.DuckDBPyConnection, customer_id: str, day: date) -> dict[str, Any] | None:
    """Churn risk and expected value, when the customer_value table is published."""
    if "customer_value" not in main_tables(con):
        return None
    frame = con.execute(
        """
        select * exclude (customer_id) from main.customer_value
        where customer_id = ? and as_of_date <= ? order by as_of_date desc limit 1""",
        [customer_id, day],
    ).df()
    return _records(frame)[0] if not frame.empty else None


def recommendations(con: duckdb.DuckDBPyConnection, customer_id: str, day: date) -> list[dict[str, Any]]:
    if "customer_recommendations" not in main_tables(con):
        return []
    names = (
        "left join main.dim_products p using (product_id)"
        if "dim_products" in main_tables(con) and {"name", "category"} <= table_columns(con, "dim_products")
        else "left join (select null::varchar product_id, null::varchar name, null::varchar category) p using (product_id)"
    )
    return _records(
        con.execute(
            f"""
        with run as (select max(as_of_date) as d from main.customer_recommendations where as_of_date <= $day)
        select r.rank, r.product_id, p.name as product_name, p.category, r.score, r.model_version, r.as_of_date
        from main.customer_recommendations r join run on r.as_of_date = run.d {names}
        where r.customer_id = $id order by r.rank""",
            {"day": day, "id": customer_id},
        ).df()
    )


def interactions(con: duckdb.DuckDBPyConnection, customer_id: str, day: date) -> list[tuple[str, str, int, str | None]]:
    """(product, interaction type, count, category) of the customer up to ``day``, in one read."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = 'fct_interactions'"
    ).fetchone()[0]
    if not exists:
        return []
    products = (
        "main.dim_products"
        if "dim_products" in main_tables(con) and "category" in table_columns(con, "dim_products")
        else "(select null::varchar as product_id, null::varchar as category)"
    )
    return con.execute(
        f"""
        select i.product_id, i.interaction_type, count(*) as n, any_value(p.category)
        from marts.fct_interactions i left join {products} p on p.product_id = i.product_id
        where i.customer_id = ? and i.occurred_at < ? + interval 1 day
        group by all order by 1, 3 desc, 2""",
        [customer_id, day],
    ).fetchall()


def reasons(seen: list[tuple[str, str, int, str | None]], products: list[str]) -> dict[str, str]:
    """Why a product suits the customer: how they met it (bought, viewed, carted)."""
    out: dict[str, list[str]] = {}
    for product, kind, n, _ in seen:
        if product in products:
            verb = VERBS.get(kind, kind.replace("_", " ") + " it")
            out.setdefault(product, []).append(f"{verb} {n}x" if n > 1 else verb)
    return {p: "they " + ", ".join(kinds) for p, kinds in out.items()}


def top_category(seen: list[tuple[str, str, int, str | None]]) -> str | None:
    """The category the customer bought most from (by purchase lines)."""
    totals: dict[str, int] = {}
    for _, kind, n, category in seen:
        if kind == "purchase" and category:
            totals[category] = totals.get(category, 0) + n
    return min(totals, key=lambda c: (-totals[c], c)) if totals else None


def orders(con: duckdb.DuckDBPyConnection, customer_id: str, day: date, limit: int = 10) -> list[dict[str, Any]]:
    if "fct_orders" not in main_tables(con):
        return []
    have = table_columns(con, "fct_orders")
    shown = [c for c in ("order_id", "ordered_at", "status", "channel", "items_count", "order_amount") if c in have]
    if "ordered_at" not in have:
        return _records(
            con.execute(
                f"select {', '.join(shown)} from main.fct_orders where customer_id = ? order by order_id desc limit ?",
                [customer_id, limit],
            ).df()
        )
    return _records(
        con.execute(
            f"select {', '.join(shown)} from main.fct_orders where customer_id = ? "
            "and ordered_at < ? + interval 1 day order by ordered_at desc limit ?",
            [customer_id, day, limit],
        ).df()
    )


def texts(
    con: duckdb.DuckDBPyConnection, customer_id: str, day: date, source: str, limit: int = 10
) -> list[dict[str, Any]]:
    """The customer's reviews or tickets up to ``day`` with their newest sentiment, scrubbed."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'fct_texts'"
    ).fetchone()[0]
    table = {"review": "review_sentiment", "ticket": "ticket_sentiment"}[source]
    key = {"review": "review_id", "ticket": "ticket_id"}[source]
    if not exists or table not in main_tables(con):
        return []
    rows = con.execute(
        f"""
        with scores as (
            select {key} as text_id, sentiment_score, sentiment_label from main.{table}
            where as_of_date = (select max(as_of_date) from main.{table} where as_of_date <= $day)
        )
        select t.created_at::date as created_on, t.rating, t.product_id, t.title, t.body,
               s.sentiment_score, s.sentiment_label
        from marts.fct_texts t left join scores s using (text_id)
        where t.source = $source and t.customer_id = $id and t.created_at < $day + interval 1 day
        order by t.created_at desc limit $limit""",
        {"day": day, "source": source, "id": customer_id, "limit": limit},
    ).df()
    out = _records(rows)
    for r in out:
        r["title"], r["body"] = scrub(r["title"], 120), scrub(r["body"])
    return out


def _explained(con: duckdb.DuckDBPyConnection, customer_id: str, day: date) -> list[dict[str, Any]]:
    recs = recommendations(con, customer_id, day)
    seen = interactions(con, customer_id, day) if recs else []
    why, favourite = reasons(seen, [r["product_id"] for r in recs]), top_category(seen)
    for r in recs:
        r["why"] = why.get(r["product_id"]) or (
            f"their most bought category ({favourite})" if favourite and r.get("category") == favourite else ""
        )
    return recs


def collect(con: duckdb.DuckDBPyConnection, key: str, day: date) -> dict[str, Any]:
    """Everything the customer view shows, or ``found: False``."""
    customer_id = find(con, key)
    if customer_id is None:
        return {"found": False}
    return {
        "found": True,
        "customer_id": customer_id,
        "profile": profile(con, customer_id),
        "segment": segment(con, customer_id, day),
        "value": value(con, customer_id, day),
        "recommendations": _explained(con, customer_id, day),
        "orders": orders(con, customer_id, day),
        "reviews": texts(con, customer_id, day, "review"),
        "tickets": texts(con, customer_id, day, "ticket"),
    }

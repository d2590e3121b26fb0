"""Sentiment: the day's distribution, its trend per product category and ticket
channel, and the most negative recent reviews and tickets with personal data scrubbed.

Scores come from the day's published partitions (``review_sentiment``,
``ticket_sentiment``); the texts, products and channels they belong to from the
marts the sentiment stage read. Text leaves this module only through ``scrub``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import main_tables
from cx.ui.scrub import scrub
from cx.warehouse import table_exists

TREND_DAYS = 30
RECENT_DAYS = 14


def _texts_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """Scored texts of the day with their product category and ticket channel, or None."""
    if not {"review_sentiment", "ticket_sentiment"} <= main_tables(con) or not table_exists(con, "fct_texts", "marts"):
        return None
    products = (
        "main.dim_products"
        if "dim_products" in main_tables(con)
        else "(select null::varchar as product_id, null::varchar as name, null::varchar as category)"
    )
    channels = (
        "(select ticket_id as text_id, any_value(channel) as channel from staging.stg_support_tickets group by 1)"
        if table_exists(con, "stg_support_tickets", "staging")
        else "(select null::varchar as text_id, null::varchar as channel)"
    )
    return f"""
        with scores as (
            select review_id as text_id, 'review' as source, sentiment_score, sentiment_label
            from main.review_sentiment where as_of_date = $day
            union all
            select ticket_id, 'ticket', sentiment_score, sentiment_label
            from main.ticket_sentiment where as_of_date = $day
        )
        select scores.*, t.customer_id, t.product_id, t.rating, t.title, t.body, t.created_at::date as created_on,
               coalesce(p.category, case when t.source = 'review' then 'unknown product' end) as category,
               p.name as product_name, case when t.source = 'ticket' then coalesce(ch.channel, 'unknown') end as channel
        from scores join marts.fct_texts t on t.text_id = scores.text_id and t.source = scores.source
        left join {products} p on p.product_id = t.product_id
        left join {channels} ch on ch.text_id = scores.text_id and scores.source = 'ticket'
        where t.created_at < $day + interval 1 day"""


WINDOW_TABLE = "cx_ui_texts"


def window(con: duckdb.DuckDBPyConnection, day: date, days: int = TREND_DAYS) -> str | None:
    """The day's scored texts of the trailing ``days`` in a temporary table (the texts view is
    read once per page, not once per chart); its name, or None without texts."""
    sql = _texts_sql(con)
    if sql is None:
        return None
    con.execute(
        f"create or replace temp table {WINDOW_TABLE} as select * from ({sql}) "
        f"where created_on > $day - interval {int(days)} day",
        {"day": day},
    )
    return WINDOW_TABLE


def distribution(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Texts per source and label in the day's scores."""
    if not {"review_sentiment", "ticket_sentiment"} <= main_tables(con):
        return []
    return (
        con.execute(
            """
        select source, label, count(*) as texts from (
            select 'review' as source, sentiment_label as label from main.review_sentiment where as_of_date = $day
            union all
            select 'ticket', sentiment_label from main.ticket_sentiment where as_of_date = $day)
        group by all order by source, label""",
            {"day": day},
        )
        .df()
        .to_dict("records")
    )


def trend(con: duckdb.DuckDBPyConnection, texts: str | None, by: str) -> pd.DataFrame:
    """Mean score per created day and ``by`` (category or channel) in the window's texts."""
    columns = ["created_on", "group", "texts", "mean_score", "negative_share"]
    if texts is None:
        return pd.DataFrame(columns=columns)
    return con.execute(f"""
        select created_on, {by} as "group", count(*) as texts, avg(sentiment_score) as mean_score,
               avg((sentiment_label = 'negative')::int) as negative_share
        from {texts} where {by} is not null group by all order by created_on""").df()[columns]


def by_group(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per group over the window: texts, mean score, negative share (worst first)."""
    if frame.empty:
        return []
    frame = frame.assign(
        negatives=frame["texts"] * frame["negative_share"], weighted=frame["mean_score"] * frame["texts"]
    )
    grouped = frame.groupby("group").agg(
        texts=("texts", "sum"), negatives=("negatives", "sum"), weighted=("weighted", "sum")
    )
    grouped["mean_score"] = grouped["weighted"] / grouped["texts"]
    grouped["negative_share"] = grouped["negatives"] / grouped["texts"]
    return grouped.drop(columns="weighted").reset_index().sort_values("mean_score").to_dict("records")


def most_negative(
    con: duckdb.DuckDBPyConnection, texts: str | None, day: date, source: str, limit: int = 8, days: int = RECENT_DAYS
) -> list[dict[str, Any]]:
    """The lowest-scored texts of ``source`` created in the trailing days, scrubbed."""
    if texts is None:
        return []
    rows = con.execute(
        f"""
        select created_on, sentiment_score, sentiment_label, rating, product_name, category, channel, title, body
        from {texts} where source = $source and created_on > $day - interval {int(days)} day
        order by sentiment_score, created_on desc limit $limit""",
        {"day": day, "source": source, "limit": limit},
    ).df()
    out = []
    for r in rows.astype(object).where(rows.notna(), None).to_dict("records"):
        r["title"], r["body"] = scrub(r["title"], 120), scrub(r["body"])
        out.append(r)
    return out


def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    texts = window(con, day, max(TREND_DAYS, RECENT_DAYS))
    categories, channels = trend(con, texts, "category"), trend(con, texts, "channel")
    return {
        "distribution": distribution(con, day),
        "category_trend": categories,
        "channel_trend": channels,
        "by_category": by_group(categories),
        "by_channel": by_group(channels),
        "negative_reviews": most_negative(con, texts, day, "review"),
        "negative_tickets": most_negative(con, texts, day, "ticket"),
        "trend_days": TREND_DAYS,
        "recent_days": RECENT_DAYS,
    }

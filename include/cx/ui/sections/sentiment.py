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

TREND_DAYS = 30
RECENT_DAYS = 14


def _schema_has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                       [schema, table]).fetchone()[0] > 0


def _texts_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """Scored texts of the day with their product category and ticket channel, or None."""
    if not {"review_sentiment", "ticket_sentiment"} <= main_tables(con) or not _schema_has(con, "marts", "fct_texts"):
        return None
    products = ("main.dim_products" if "dim_products" in main_tables(con) else
                "(select null::varchar as product_id, null::varchar as name, null::varchar as category)")
    channels = ("(select ticket_id as text_id, any_value(channel) as channel from staging.stg_support_tickets "
                "group by 1)" if _schema_has(con, "staging", "stg_support_tickets") else
                "(select null::varchar as text_id, null::varchar as channel)")
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


def distribution(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Texts per source and label in the day's scores."""
    sql = _texts_sql(con)
    if sql is None:
        return []
    return con.execute(f"select source, sentiment_label as label, count(*) as texts from ({sql}) "
                       "group by all order by source, label", {"day": day}).df().to_dict("records")


def trend(con: duckdb.DuckDBPyConnection, day: date, by: str, days: int = TREND_DAYS) -> pd.DataFrame:
    """Mean score per created day and ``by`` (category or channel) over the trailing window."""
    sql = _texts_sql(con)
    columns = ["created_on", "group", "texts", "mean_score", "negative_share"]
    if sql is None:
        return pd.DataFrame(columns=columns)
    return con.execute(f"""
        select created_on, {by} as "group", count(*) as texts, avg(sentiment_score) as mean_score,
               avg((sentiment_label = 'negative')::int) as negative_share
        from ({sql}) where {by} is not null and created_on > $day - interval {int(days)} day
        group by all order by created_on""", {"day": day}).df()[columns]


def by_group(con: duckdb.DuckDBPyConnection, day: date, by: str, days: int = TREND_DAYS) -> list[dict[str, Any]]:
    frame = trend(con, day, by, days)
    if frame.empty:
        return []
    frame["negatives"] = frame["texts"] * frame["negative_share"]
    grouped = frame.groupby("group").agg(texts=("texts", "sum"), negatives=("negatives", "sum"))
    weighted = (frame["mean_score"] * frame["texts"]).groupby(frame["group"]).sum()
    grouped["mean_score"] = weighted / grouped["texts"]
    grouped["negative_share"] = grouped["negatives"] / grouped["texts"]
    return grouped.reset_index().sort_values("mean_score").to_dict("records")


def most_negative(con: duckdb.DuckDBPyConnection, day: date, source: str, limit: int = 8,
                  days: int = RECENT_DAYS) -> list[dict[str, Any]]:
    """The lowest-scored texts of ``source`` created in the trailing days, scrubbed."""
    sql = _texts_sql(con)
    if sql is None:
        return []
    rows = con.execute(f"""
        select created_on, sentiment_score, sentiment_label, rating, product_name, category, channel, title, body
        from ({sql}) where source = $source and created_on > $day - interval {int(days)} day
        order by sentiment_score, created_on desc limit $limit""",
                       {"day": day, "source": source, "limit": limit}).df()
    out = []
    for r in rows.astype(object).where(rows.notna(), None).to_dict("records"):
        r["title"], r["body"] = scrub(r["title"], 120), scrub(r["body"])
        out.append(r)
    return out


def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    return {"distribution": distribution(con, day),
            "category_trend": trend(con, day, "category"), "channel_trend": trend(con, day, "channel"),
            "by_category": by_group(con, day, "category"), "by_channel": by_group(con, day, "channel"),
            "negative_reviews": most_negative(con, day, "review"),
            "negative_tickets": most_negative(con, day, "ticket"),
            "trend_days": TREND_DAYS, "recent_days": RECENT_DAYS}

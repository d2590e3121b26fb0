"""The pipeline stage: read marts.fct_texts, score, publish; per-customer/product means."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from cx.config import Settings, load_settings
from cx.model_runs import OUTPUT_SCHEMA, write_model_runs
from cx.models.sentiment.config import MODEL, SentimentConfig
from cx.models.sentiment.model import score_texts
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)


def aggregate_sentiment(scores: pd.DataFrame, texts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean sentiment per customer (reviews and tickets) and per product (reviews only:
    tickets are mostly about delivery and service, not the product).

    ``scores``: review_sentiment and/or ticket_sentiment rows (review_id / ticket_id /
    text_id, sentiment_score); ``texts``: marts.fct_texts (text_id, source, customer_id,
    product_id). Returns (customer_id, avg_sentiment) and (product_id, avg_sentiment).
    """
    parts = []
    for key, source in (("review_id", "review"), ("ticket_id", "ticket"), ("text_id", None)):
        if key in scores.columns:
            part = scores.loc[scores[key].notna(), [key, "sentiment_score"]].rename(columns={key: "text_id"})
            parts.append(part.assign(source=source))
    empty_c = pd.DataFrame({"customer_id": pd.Series(dtype="string"), "avg_sentiment": pd.Series(dtype="float64")})
    empty_p = pd.DataFrame({"product_id": pd.Series(dtype="string"), "avg_sentiment": pd.Series(dtype="float64")})
    if not parts or texts.empty:
        return empty_c, empty_p
    s = pd.concat(parts, ignore_index=True).astype({"text_id": "string", "source": "string"})
    t = texts.astype({"text_id": "string"}).assign(source=texts["source"].astype("string").str.lower())
    keyed = s.loc[s["source"].notna()].merge(t, on=["text_id", "source"], how="inner")
    unkeyed = s.loc[s["source"].isna()].drop(columns="source").merge(t, on="text_id", how="inner")
    joined = pd.concat([keyed, unkeyed], ignore_index=True)
    joined["sentiment_score"] = pd.to_numeric(joined["sentiment_score"], errors="coerce")
    per_customer = (joined.dropna(subset=["customer_id"]).groupby("customer_id", as_index=False)["sentiment_score"]
                    .mean().rename(columns={"sentiment_score": "avg_sentiment"}))
    per_product = (joined.loc[joined["source"] == "review"].dropna(subset=["product_id"])
                   .groupby("product_id", as_index=False)["sentiment_score"].mean()
                   .rename(columns={"sentiment_score": "avg_sentiment"}))
    return (per_customer.astype({"customer_id": "string", "avg_sentiment": "float64"}),
            per_product.astype({"product_id": "string", "avg_sentiment": "float64"}))


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Score marts.fct_texts; publish review_sentiment, ticket_sentiment and model_runs."""
    settings = settings or load_settings()
    cfg = SentimentConfig(seed=settings.seed)
    with connect(settings) as con:
        if not table_exists(con, "fct_texts", "marts"):
            log.info("sentiment skipped: marts.fct_texts is missing")
            return {"skipped": "marts.fct_texts is missing"}
        texts = read_df(con, "select * from marts.fct_texts")
    if texts.empty:
        log.info("sentiment skipped: marts.fct_texts is empty")
        return {"skipped": "marts.fct_texts is empty"}

    result = score_texts(texts, cfg)
    with connect(settings) as con:
        replace_partition(con, "review_sentiment", result.reviews, as_of, schema=OUTPUT_SCHEMA)
        replace_partition(con, "ticket_sentiment", result.tickets, as_of, schema=OUTPUT_SCHEMA)
        write_model_runs(con, MODEL, result.model_version, result.metrics, as_of)
    log.info("sentiment: %s", result.summary)
    return result.summary

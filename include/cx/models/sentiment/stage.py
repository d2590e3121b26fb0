"""The pipeline stage: read marts.fct_texts, score, publish; per-customer/product means."""

from __future__ import annotations

from datetime import date

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.models._stage import StageOutput, run_stage
from cx.models.sentiment.config import MODEL, SentimentConfig
from cx.models.sentiment.model import score_texts
from cx.warehouse import read_df, table_exists


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
    per_customer = (
        joined.dropna(subset=["customer_id"])
        .groupby("customer_id", as_index=False)["sentiment_score"]
        .mean()
        .rename(columns={"sentiment_score": "avg_sentiment"})
    )
    per_product = (
        joined.loc[joined["source"] == "review"]
        .dropna(subset=["product_id"])
        .groupby("product_id", as_index=False)["sentiment_score"]
        .mean()
        .rename(columns={"sentiment_score": "avg_sentiment"})
    )
    return (
        per_customer.astype({"customer_id": "string", "avg_sentiment": "float64"}),
        per_product.astype({"product_id": "string", "avg_sentiment": "float64"}),
    )


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Score marts.fct_texts; publish review_sentiment, ticket_sentiment and model_runs."""
    settings = settings or load_settings()
    cfg = SentimentConfig(seed=settings.seed)

    def read(con) -> pd.DataFrame:
        if not table_exists(con, "fct_texts", "marts"):
            raise NothingToDo("marts.fct_texts is missing")
        texts = read_df(con, "select * from marts.fct_texts")
        if texts.empty:
            raise NothingToDo("marts.fct_texts is empty")
        return texts

    def compute(texts: pd.DataFrame) -> StageOutput:
        result = score_texts(texts, cfg)
        return StageOutput(
            {"review_sentiment": result.reviews, "ticket_sentiment": result.tickets},
            [(result.model_version, result.metrics)],
            result.summary,
        )

    return run_stage(MODEL, as_of, settings, read, compute)

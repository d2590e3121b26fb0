"""The real-corpus protocol: train as the pipeline trains, on the shop's rated reviews, and
score the held-back half of them with their ratings hidden (as unrated reviews are scored).

Used by ``bench/sentiment_real.py`` and the tests on the samples in ``tests/data/reviews``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cx.models import sentiment_lexicon
from cx.models.sentiment.config import LABELS, SentimentConfig, label_from_score, rating_to_label
from cx.models.sentiment.evaluation import evaluate
from cx.models.sentiment.model import score_texts
from cx.models.sentiment.text import build_documents


def hide_half(reviews: pd.DataFrame, seed: int) -> np.ndarray:
    """Mask of the held-back half: half of each label's reviews (rounded down), drawn with
    a fixed seed in ``review_id`` order, so it does not depend on the row order."""
    order = np.argsort(reviews["review_id"].astype(str).to_numpy(), kind="stable")
    labels = rating_to_label(reviews["rating"]).fillna("").to_numpy()[order]
    rng = np.random.default_rng(seed)
    hidden = np.zeros(len(reviews), dtype=bool)
    for lab in LABELS:
        idx = np.flatnonzero(labels == lab)
        hidden[order[rng.permutation(idx)[: len(idx) // 2]]] = True
    return hidden


def as_fct_texts(reviews: pd.DataFrame, hidden: np.ndarray) -> pd.DataFrame:
    """The reviews as ``marts.fct_texts`` rows, ratings of the hidden half removed."""
    rating = pd.to_numeric(reviews["rating"], errors="coerce")
    return pd.DataFrame(
        {
            "text_id": reviews["review_id"].astype("string"),
            "source": "review",
            "title": reviews["title"].astype("string"),
            "body": reviews["body"].astype("string"),
            "rating": rating.where(~hidden).astype("Int32"),
            "language": reviews["language"].astype("string"),
            "customer_id": pd.Series(pd.NA, index=reviews.index, dtype="string"),
            "product_id": pd.Series(pd.NA, index=reviews.index, dtype="string"),
        }
    )


def holdout_report(reviews: pd.DataFrame, cfg: SentimentConfig | None = None) -> dict[str, Any]:
    """Scores of the held-back half (model as published, and the lexicon on the same texts).

    ``reviews``: review_id, title, body, rating (1-5), language."""
    cfg = cfg or SentimentConfig()
    hidden = hide_half(reviews, cfg.seed)
    result = score_texts(as_fct_texts(reviews, hidden), cfg)
    scored = result.reviews.set_index("review_id").loc[reviews["review_id"].astype(str)]
    truth = rating_to_label(reviews["rating"]).to_numpy(dtype=object)[hidden]
    model = evaluate(
        truth, scored["sentiment_score"].to_numpy()[hidden], scored["sentiment_label"].to_numpy(dtype=object)[hidden]
    )
    docs = build_documents(reviews.loc[hidden])
    lex = np.asarray(
        sentiment_lexicon.score_texts(docs.tolist(), reviews.loc[hidden, "language"].tolist(), cfg.lexicon)
    )
    lexicon = evaluate(truth, lex, label_from_score(lex, cfg.lexicon.neutral_threshold()))
    return {
        "held_back": int(hidden.sum()),
        "trained_on": int((~hidden).sum()),
        "model_version": result.model_version,
        "fallback": result.fallback,
        "model": model,
        "lexicon": lexicon,
    }

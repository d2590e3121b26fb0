"""The blend's terms: frequency, recency, popularity and the rank-normalised LightFM score."""

from __future__ import annotations

import numpy as np

from cx.models.recommend._baselines import PurchaseSignals
from cx.models.recommend._config import RecommendConfig
from cx.models.recommend._lightfm import FittedRecommender
from cx.models.recommend._topk import descending_order


def count_greater(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row r, how many of ``ascending[r]`` (sorted ascending) exceed each ``values[r, j]``.
    One small searchsorted per row: its row stays in L1, cheaper than one global search."""
    width = ascending.shape[1]
    out = np.empty(values.shape, dtype=np.int64)
    for r in range(len(ascending)):
        out[r] = width - np.searchsorted(ascending[r], values[r], side="right")
    return out


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Per row: best item 1, worst 0, linear in rank (scale-free, unlike raw scores)."""
    n = scores.shape[1]
    order = descending_order(scores)
    out = np.empty_like(scores, dtype="float32")
    ladder = (1.0 - np.arange(n, dtype="float32") / max(n - 1, 1))[None, :]
    np.put_along_axis(out, order, np.broadcast_to(ladder, scores.shape), axis=1)
    return out


def blend_terms(
    users: np.ndarray, fitted: FittedRecommender, signals: PurchaseSignals, cfg: RecommendConfig
) -> np.ndarray:
    """The blend's terms for a batch of user rows, shape (len(BLEND_TERMS), users, items):

    frequency  log(1 + days the customer bought the item);
    recency    exp(-days since they last bought it / recency_scale_days), 0 if never;
    popularity log(1 + recency-weighted purchases of the item) over its maximum;
    lightfm    the LightFM score, rank-normalised per customer (1 best, 0 worst).

    Cold customers have only the last two, so they get popular items that fit their features.
    """
    frequency = np.log1p(signals.occasions[users].toarray())
    recency = recency_term(signals.last_age[users].toarray(), cfg)
    popularity = np.broadcast_to(popularity_term(signals), frequency.shape)
    lightfm = rank_normalise(fitted.scores(users))
    return np.stack([frequency, recency, popularity, lightfm]).astype("float32")


def popularity_term(signals: PurchaseSignals) -> np.ndarray:
    pop = np.log1p(signals.popularity)
    pop = pop / pop.max() if pop.size and pop.max() > 0 else pop
    return pop.astype("float32")


def recency_term(last_age: np.ndarray, cfg: RecommendConfig) -> np.ndarray:
    return np.where(last_age > 0, np.exp(-np.maximum(last_age - 1.0, 0.0) / cfg.recency_scale_days), 0.0)

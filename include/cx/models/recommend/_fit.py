"""The published procedure: customers and products with their features, LightFM fits
(cached, side by side) and the blend learned before the reference day."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.models.recommend._baselines import DAY, PurchaseSignals, index_positions, purchase_signals
from cx.models.recommend._blend import Recommender, _validation_table, learn_blend
from cx.models.recommend._config import RecommendConfig
from cx.models.recommend._features import item_feature_lists, user_feature_lists
from cx.models.recommend._fits import run_side_by_side
from cx.models.recommend._lightfm import FittedRecommender, prepare_lightfm
from cx.models.recommend.evaluation import holdout_test
from cx.row_order import sort_rows


@dataclass
class _Universe:
    user_ids: list[str]
    item_ids: list[str]
    is_product: np.ndarray
    publishable: np.ndarray
    user_feats: dict[str, list[tuple[str, float]]]
    item_feats: dict[str, list[tuple[str, float]]]

    @property
    def product_ids(self) -> list[str]:
        return [p for p, ok in zip(self.item_ids, self.is_product, strict=False) if ok]


def build_universe(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    segments: pd.DataFrame | None,
    cfg: RecommendConfig,
) -> _Universe:
    """Customers (CRM and interactions) and products with their features and flags."""
    products = sort_rows(products, ["product_id"]).drop_duplicates("product_id").reset_index(drop=True)
    seen = pd.Series(interactions["customer_id"].unique()).astype(str)
    user_ids = sorted(set(customers["customer_id"].dropna().astype(str)) | set(seen))
    is_product = products["is_product"].fillna(False).astype(bool).to_numpy()
    available = products["is_available"].fillna(False).astype(bool).to_numpy()
    return _Universe(
        user_ids=user_ids,
        item_ids=products["product_id"].astype(str).tolist(),
        is_product=is_product,
        publishable=is_product & available,
        user_feats=user_feature_lists(customers, segments),
        item_feats=item_feature_lists(products, cfg),
    )


def signals_at(
    interactions: pd.DataFrame, uni: _Universe, reference: pd.Timestamp, cfg: RecommendConfig
) -> PurchaseSignals:
    """The purchase signals (both baselines' and the blend's) as of ``reference``."""
    return purchase_signals(
        interactions,
        {u: i for i, u in enumerate(uni.user_ids)},
        {p: i for i, p in enumerate(uni.item_ids)},
        reference,
        cfg.popularity_half_life_days,
        cfg.exclude_bought_days,
    )


LightFMCache = dict[pd.Timestamp, FittedRecommender]


def _lightfm_at(
    interactions: pd.DataFrame,
    uni: _Universe,
    reference: pd.Timestamp,
    cfg: RecommendConfig,
    cache: LightFMCache | None,
) -> FittedRecommender:
    """LightFM on the events before ``reference``; the cache (one per interactions
    frame) lets the holdout and the final fit share the fit they have in common."""
    cache = {} if cache is None else cache
    _fit_lightfm_at(interactions, uni, [reference], cfg, cache)
    return cache[reference]


def _fit_lightfm_at(
    interactions: pd.DataFrame,
    uni: _Universe,
    references: list[pd.Timestamp],
    cfg: RecommendConfig,
    cache: LightFMCache,
) -> None:
    """Into the cache: LightFM at each reference it lacks, prepared one after the other
    and fitted side by side on ``num_threads`` threads (one thread per fit)."""
    todo = [r for r in dict.fromkeys(references) if r not in cache]
    jobs = [
        prepare_lightfm(interactions, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, r, cfg) for r in todo
    ]
    cache.update(zip(todo, run_side_by_side(jobs, cfg.num_threads), strict=False))


def fit_recommender(
    interactions: pd.DataFrame,
    uni: _Universe,
    reference: pd.Timestamp,
    cfg: RecommendConfig,
    cache: LightFMCache | None = None,
) -> Recommender:
    """The published procedure, using only events before ``reference``:

    1. if ``learn_blend``: fit LightFM on the events before ``reference - validation_days``
       and learn the blend weights on the purchases of the following ``validation_days``
       (customers known by then, products only); too few such customers keep the defaults;
    2. fit LightFM on all events before ``reference`` and compute the purchase signals.
    """
    # Every step below reads only the events before its own cutoff (<= reference), so the
    # frame is not copied here: at 1M customers each copy is over a GB.
    details: dict[str, Any] = {"reference": str(reference)}
    weights = cfg.blend_weights
    cache = {} if cache is None else cache
    if cfg.learn_blend and cfg.validation_days > 0:
        val_cutoff = reference - cfg.validation_days * DAY
        val = holdout_test(interactions, uni.product_ids, val_cutoff, end=reference)
        customers = np.array(sorted(val["customer_id"].unique()), dtype=object)
        if len(customers) >= cfg.min_validation_customers:
            if len(customers) > cfg.max_validation_customers:
                rng = np.random.default_rng(cfg.seed)
                customers = np.sort(rng.choice(customers, cfg.max_validation_customers, replace=False))
            _fit_lightfm_at(interactions, uni, [val_cutoff, reference], cfg, cache)  # both fits, side by side
            val_fit = _lightfm_at(interactions, uni, val_cutoff, cfg, cache)
            val_signals = signals_at(interactions, uni, val_cutoff, cfg)
            users = np.array([val_fit.user_index[c] for c in customers], dtype=np.int64)
            val = val.loc[val["customer_id"].isin(set(customers))]
            bought = sparse.csr_matrix(
                (
                    np.ones(len(val), dtype="float32"),
                    (
                        index_positions(val["customer_id"], val_fit.user_index),
                        index_positions(val["product_id"], val_fit.item_index),
                    ),
                ),
                shape=(len(uni.user_ids), len(uni.item_ids)),
            )
            table = _validation_table(val_fit, val_signals, users, bought, uni.is_product, cfg)
            weights, p_default, p_learned = learn_blend(table, cfg)
            details.update(
                {
                    "validation_cutoff": str(val_cutoff),
                    "validation_customers": len(users),
                    "validation_precision_defaults": round(p_default, 4),
                    "validation_precision_learned": round(p_learned, 4),
                }
            )
        else:
            details["validation"] = f"{len(customers)} validation customers; default blend weights"
    fitted = _lightfm_at(interactions, uni, reference, cfg, cache)
    signals = signals_at(interactions, uni, reference, cfg)
    recommender = Recommender(fitted, signals, np.asarray(weights, dtype="float32"), reference, cfg, details)
    details["blend"] = recommender.blend
    return recommender

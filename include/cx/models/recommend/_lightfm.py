"""One LightFM fit: its data, features and model (fitted alone or beside others: _fits)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.models.recommend._baselines import index_positions
from cx.models.recommend._config import RecommendConfig
from cx.models.recommend._features import feature_matrix, interaction_weights
from cx.models.recommend._fits import fit_model


@dataclass
class FittedRecommender:
    """A fitted LightFM model with the id mappings and feature matrices it needs."""

    model: Any
    user_ids: list[str]
    item_ids: list[str]
    user_features: sparse.csr_matrix
    item_features: sparse.csr_matrix
    trained_through: pd.Timestamp
    fit_seconds: float = 0.0
    user_index: dict[str, int] = field(init=False)
    item_index: dict[str, int] = field(init=False)
    _user_emb: np.ndarray = field(init=False, repr=False)
    _item_emb: np.ndarray = field(init=False, repr=False)
    _item_bias: np.ndarray = field(init=False, repr=False)
    _items_t: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {p: i for i, p in enumerate(self.item_ids)}
        _, user_emb = self.model.get_user_representations(self.user_features)
        self._item_bias, self._item_emb = self.model.get_item_representations(self.item_features)
        # [embedding | 1] @ [embedding | bias].T: the item bias comes with the one product.
        self._user_emb = np.hstack([user_emb, np.ones((len(user_emb), 1))]).astype("float32")
        self._items_t = np.ascontiguousarray(np.hstack([self._item_emb, self._item_bias[:, None]]).T, dtype="float32")

    def scores(self, users: np.ndarray) -> np.ndarray:
        """LightFM scores for a batch of user rows over all items (user bias omitted:
        it does not change a user's ranking)."""
        return self._user_emb[users] @ self._items_t


def fit_lightfm(*args: Any) -> FittedRecommender:
    """LightFM on the events before ``reference`` (arguments of :func:`prepare_lightfm`)."""
    return prepare_lightfm(*args)()


def prepare_lightfm(
    interactions: pd.DataFrame,
    user_ids: list[str],
    item_ids: list[str],
    user_feats: dict[str, list[tuple[str, float]]],
    item_feats: dict[str, list[tuple[str, float]]],
    reference: pd.Timestamp,
    cfg: RecommendConfig,
) -> Callable[[], FittedRecommender]:
    """The data, features and model of a LightFM fit, and the fit itself to run (alone,
    or beside other fits on other threads: see _fits)."""
    from lightfm import LightFM  # heavy import kept local to the stage

    started = time.perf_counter()
    columns = [
        c for c in ("customer_id", "product_id", "interaction_type", "occurred_at", "rating") if c in interactions
    ]
    interactions = interactions.loc[interactions["occurred_at"] < reference, columns]
    weights = interaction_weights(interactions, reference, cfg)
    del interactions
    rows = index_positions(weights["customer_id"], {u: i for i, u in enumerate(user_ids)})
    cols = index_positions(weights["product_id"], {p: i for i, p in enumerate(item_ids)})
    known = (rows >= 0) & (cols >= 0)
    rows, cols, w = rows[known], cols[known], weights["weight"].to_numpy()[known]
    if len(rows) > cfg.max_pair_updates:
        # More pairs than one fit's budget: one pass over a fixed seeded sample of them.
        # A customer or product none of whose pairs is drawn stays cold (scored from its
        # features), as the warm flags below follow the pairs fitted.
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(rows), cfg.max_pair_updates, replace=False))
        rows, cols, w = rows[keep], cols[keep], w[keep]
    # Scale weights to mean 1 (keeps the learning rate meaningful) and cap heavy users.
    w = np.clip(w / w.mean(), 0.05, 10.0) if len(w) else w
    shape = (len(user_ids), len(item_ids))
    binary = sparse.coo_matrix((np.ones(len(rows), dtype="float32"), (rows, cols)), shape=shape)
    sample_weight = sparse.coo_matrix((w.astype("float32"), (rows, cols)), shape=shape)

    warm_users = np.zeros(len(user_ids), dtype=bool)
    warm_users[rows] = True
    warm_items = np.zeros(len(item_ids), dtype=bool)
    warm_items[cols] = True
    user_features = feature_matrix(user_ids, user_feats, warm_users, cfg.feature_weight)
    item_features = feature_matrix(item_ids, item_feats, warm_items, cfg.feature_weight)

    model = LightFM(
        no_components=cfg.no_components,
        loss=cfg.loss,
        learning_rate=cfg.learning_rate,
        item_alpha=cfg.item_alpha,
        user_alpha=cfg.user_alpha,
        max_sampled=cfg.max_sampled,
        random_state=np.random.RandomState(cfg.seed),
    )
    fit_args = {
        "interactions": binary,
        "user_features": user_features,
        "item_features": item_features,
        "sample_weight": sample_weight,
        "epochs": epochs_within_budget(len(rows), cfg),
    }  # one row per pair
    prepared = time.perf_counter() - started

    def fit() -> FittedRecommender:
        began = time.perf_counter()
        fit_model(model, fit_args)
        seconds = prepared + time.perf_counter() - began
        return FittedRecommender(model, user_ids, item_ids, user_features, item_features, reference, seconds)

    return fit


def epochs_within_budget(pairs: int, cfg: RecommendConfig) -> int:
    """cfg.epochs, fewer when epochs x pairs would exceed cfg.max_pair_updates (at least
    one; fit_lightfm samples the pairs down to the budget beyond that)."""
    return max(1, min(cfg.epochs, cfg.max_pair_updates // max(pairs, 1)))

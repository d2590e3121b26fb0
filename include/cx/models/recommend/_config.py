"""The stage's names, versions and hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cx.config import Settings
from cx.models._stage import config_from_settings

MODEL_NAME = "recommendations"
VERSION_MODEL = "lightfm-hybrid-blend-v2"
VERSION_REPEAT = "baseline-repeat-pop-v2"
VERSION_POPULARITY = "baseline-popularity-v1"
BASELINES = ("popularity", "repeat_pop")  # the holdout metrics of the baselines the model must beat
OUTPUT_COLUMNS = ["customer_id", "rank", "product_id", "score", "model_version"]
INTERACTION_COLUMNS = ("customer_id", "product_id", "interaction_type", "occurred_at", "rating")  # and row order
BLEND_TERMS = ("frequency", "recency", "popularity", "lightfm")

# The fields that mirror cx.config.Settings (the blend's validation window is as long as the holdout).
_SETTINGS_FIELDS = {
    "top_n": "recs_top_n",
    "exclude_bought_days": "recs_exclude_bought_days",
    "holdout_days": "recs_holdout_days",
    "validation_days": "recs_holdout_days",
    "seed": "seed",
}


@dataclass(frozen=True)
class RecommendConfig:
    """Hyperparameters of the stage; top_n, exclude_bought_days, holdout_days (and
    validation_days with it) and seed mirror cx.config.Settings."""

    top_n: int = 10
    eval_k: int = 10
    exclude_bought_days: int = 0
    holdout_days: int = 14
    seed: int = 42
    # Interaction weights: intent grows from view to cart to purchase; returns cancel.
    weight_purchase: float = 1.0
    weight_add_to_cart: float = 0.4
    weight_product_view: float = 0.1
    weight_rating: float = 0.5  # times (rating - 3) / 2, so 1-2 stars count against
    weight_return: float = -1.0
    half_life_days: float = 90.0
    popularity_half_life_days: float = 30.0
    # LightFM
    loss: str = "warp"
    no_components: int = 32
    epochs: int = 20
    # Work per fit is capped at this many interaction updates (epochs x distinct
    # customer-product pairs): a large shop gets fewer passes over more data, so a
    # fit costs about the same at 100k or 1M customers. UCI (~270k pairs) and the
    # demo keep all their epochs.
    max_pair_updates: int = 8_000_000
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    max_sampled: int = 10
    num_threads: int = 2  # fits side by side and scoring batches, never threads within a fit
    # Weight of a warm customer's or product's shared features relative to its own
    # identity: enough to place a cold one, too little to blur the warm ones together.
    feature_weight: float = 0.3
    # Blend (score = sum of weight x term, see blend_terms). Frequency is the anchor the
    # other weights are relative to; the rest are defaults, refined on validation when
    # learn_blend. Defaults chosen on UCI inside the training period (bench/recs_uci.py).
    blend_frequency: float = 1.0
    blend_recency: float = 0.1
    blend_popularity: float = 1.0
    blend_lightfm: float = 1.0
    recency_scale_days: float = 60.0
    learn_blend: bool = True
    blend_grid: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
    blend_rounds: int = 2
    # A weight moves off its default only for this much validation precision: smaller
    # gains on a few hundred customers are noise, and the defaults are already tuned.
    blend_min_gain: float = 0.002
    validation_days: int = 14
    min_validation_customers: int = 20
    max_validation_customers: int = 3000
    # Validation, holdout and publishing score only candidates: the customer's own items,
    # this many by LightFM and this many by popularity (see candidate_batches).
    candidates_per_source: int = 200
    # The LightFM term is the item's rank among all items: counted exactly in catalogues
    # up to this size, estimated on a fixed seeded sample of this many items beyond
    # (exact for LightFM's own top candidates either way).
    rank_sample_items: int = 2048
    # The holdout scores a fixed seeded sample of this many test customers when there
    # are more (about +-0.001 on p@10 at 20k customers).
    max_eval_customers: int = 20_000
    # The model is published only when its holdout p@k beats the best baseline's by more
    # than this many standard errors of the lift: a smaller lift is sampling noise (at
    # 1M customers the hybrid "won" by 0.000005, 0.04 standard errors, and that tie cost
    # a final fit and the scoring of every customer), and the baseline is the simpler one.
    gate_min_z: float = 2.0
    dense_block_rows: int = 64  # customers x all items scored at a time (kept in cache)
    # Features
    price_bands: int = 5
    max_description_tokens: int = 500
    batch_size: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RecommendConfig:
        return config_from_settings(cls, settings, _SETTINGS_FIELDS, **overrides)

    @property
    def blend_weights(self) -> np.ndarray:
        return np.array(
            [self.blend_frequency, self.blend_recency, self.blend_popularity, self.blend_lightfm],
            dtype="float32",
        )

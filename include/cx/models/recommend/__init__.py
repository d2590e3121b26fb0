"""Personalised product recommendations: a LightFM hybrid blended with repeat purchases.

Pipeline (pure core :func:`recommend` in ``_core``, I/O in :func:`run`, ``_stage``):

1. weight events by type and recency, aggregate per customer x product;
2. fit LightFM (WARP) with user features (segment, region, country, age band, tenure
   band) and item features (category, brand, price band, name and description tokens)
   on top of per-customer and per-product identities, so cold customers and new
   products are scored from their features;
3. blend the rank-normalised LightFM score with the customer's own purchase frequency
   and recency and the products' recent popularity; the blend weights are learned on a
   validation slice inside the training period (defaults in :class:`RecommendConfig`);
4. evaluate that whole procedure on a time-based holdout against two baselines computed
   identically (popularity; own past purchases then popularity) and publish the model
   only if it beats the best baseline on precision@k.

Validation, holdout and the published lists score candidates only (own items, LightFM's
top and the most popular; :func:`candidate_batches`), not every customer x product.

:func:`fit_recommender` is the one procedure that is evaluated, published and
benchmarked (``bench/recs_uci.py``). It is reproducible: the inputs are put in one row
order first (cx.row_order), seeds are fixed, each LightFM fit runs on one thread
(``_fits``: fits run side by side instead), and ties rank by product_id
(``_topk``); the day's recommender is also kept in ``models/recommend/<as_of>.pkl``.

Modules (private, scikit-learn style; import from this package):
``_config`` names and :class:`RecommendConfig`; ``_features`` interaction weights and
user/item features; ``_lightfm`` one LightFM fit; ``_fits`` fits side by side;
``_baselines`` purchase signals and the baselines; ``_terms`` the blend's terms;
``_candidates`` candidate items per customer; ``_topk`` top-k with tie-breaks; ``_blend``
the blended recommender and its learned weights; ``_fit`` the published procedure;
``_core`` holdout, gate and the lists; ``_stage`` the stage. :mod:`.evaluation` (public)
holds the holdout split and the ranking metrics every method is scored with.
"""

from __future__ import annotations

from cx.models.recommend._baselines import (
    PurchaseSignals,
    purchase_signals,
    repeat_then_popularity,
    scaled_popularity,
)
from cx.models.recommend._blend import Recommender, learn_blend
from cx.models.recommend._candidates import (
    Candidates,
    CandidateScorer,
    candidate_batches,
)
from cx.models.recommend._config import (
    BASELINES,
    BLEND_TERMS,
    INTERACTION_COLUMNS,
    MODEL_NAME,
    OUTPUT_COLUMNS,
    VERSION_MODEL,
    VERSION_POPULARITY,
    VERSION_REPEAT,
    RecommendConfig,
)
from cx.models.recommend._core import (
    RecommendResult,
    baseline_scorers,
    blend_scorer,
    eval_customers,
    evaluate_holdout,
    gate,
    holdout_metrics,
    method_scorers,
    recommend,
    result_metrics,
)
from cx.models.recommend._features import (
    feature_matrix,
    interaction_weights,
    item_feature_lists,
    user_feature_lists,
)
from cx.models.recommend._fit import (
    LightFMCache,
    build_universe,
    fit_recommender,
    signals_at,
)
from cx.models.recommend._lightfm import (
    FittedRecommender,
    epochs_within_budget,
    fit_lightfm,
    prepare_lightfm,
)
from cx.models.recommend._stage import run
from cx.models.recommend._terms import blend_terms, rank_normalise
from cx.models.recommend._topk import top_n_lists

__all__ = [
    "BASELINES",
    "BLEND_TERMS",
    "CandidateScorer",
    "Candidates",
    "FittedRecommender",
    "INTERACTION_COLUMNS",
    "LightFMCache",
    "MODEL_NAME",
    "OUTPUT_COLUMNS",
    "PurchaseSignals",
    "RecommendConfig",
    "RecommendResult",
    "Recommender",
    "VERSION_MODEL",
    "VERSION_POPULARITY",
    "VERSION_REPEAT",
    "baseline_scorers",
    "blend_scorer",
    "blend_terms",
    "build_universe",
    "candidate_batches",
    "epochs_within_budget",
    "eval_customers",
    "evaluate_holdout",
    "feature_matrix",
    "fit_lightfm",
    "fit_recommender",
    "gate",
    "holdout_metrics",
    "interaction_weights",
    "item_feature_lists",
    "learn_blend",
    "method_scorers",
    "prepare_lightfm",
    "purchase_signals",
    "rank_normalise",
    "recommend",
    "repeat_then_popularity",
    "result_metrics",
    "run",
    "scaled_popularity",
    "signals_at",
    "top_n_lists",
    "user_feature_lists",
]

"""Features, their treatment, and the stage's hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

MODEL = "segmentation"

# Candidate features, in output order. Categorical columns (region, country, age_band)
# are left out on purpose: segments describe behaviour, not demographics.
FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_size",
    "category_diversity",
    "web_sessions",
    "cart_abandonment_rate",
    "return_rate",
    "avg_sentiment",
    "recent_order_share",  # share of the customer's orders placed in the last weeks: the trend
    "avg_item_price",  # spend per unit: the price point, what tells bargain hunters apart
)
# What customers without orders are clustered on: purchase features are undefined for them.
NON_BUYER_FEATURES: tuple[str, ...] = ("tenure_days", "web_sessions", "cart_abandonment_rate", "avg_sentiment")
ENGAGEMENT_FEATURES: frozenset[str] = frozenset({"web_sessions", "cart_abandonment_rate"})
# Undefined without an order: NULL in a non-buyer segment's profile rather than a made-up value.
UNDEFINED_WITHOUT_ORDERS: frozenset[str] = frozenset({"recency_days", "recent_order_share", "avg_item_price"})
# Heavy-tailed money, counts and durations: log1p before scaling.
LOG_FEATURES: frozenset[str] = frozenset(
    {"frequency", "monetary", "tenure_days", "avg_basket_size", "category_diversity", "web_sessions", "avg_item_price"}
)
INT_FEATURES: frozenset[str] = frozenset(
    {"recency_days", "frequency", "tenure_days", "category_diversity", "web_sessions"}
)
# Missing means "none of it" for these (no orders -> no spend, no sessions, no returns).
ZERO_IF_MISSING: frozenset[str] = frozenset(
    {"frequency", "monetary", "avg_basket_size", "category_diversity", "web_sessions", "return_rate"}
)
# Missing means "unknown" for these (no carts, no texts, no priced units): impute the
# population median so that absence alone does not create a cluster.
MEDIAN_IF_MISSING: frozenset[str] = frozenset(
    {"tenure_days", "cart_abandonment_rate", "avg_sentiment", "recent_order_share", "avg_item_price"}
)
# Short words for name qualifiers when two clusters earn the same name.
FEATURE_LABELS: dict[str, str] = {
    "recency_days": "recency",
    "frequency": "frequency",
    "monetary": "spend",
    "tenure_days": "tenure",
    "avg_basket_size": "basket",
    "category_diversity": "variety",
    "web_sessions": "browsing",
    "cart_abandonment_rate": "abandonment",
    "return_rate": "returns",
    "avg_sentiment": "sentiment",
    "recent_order_share": "recent activity",
    "avg_item_price": "price point",
}
BUYERS, NON_BUYERS = "buyers", "non_buyers"


@dataclass(frozen=True)
class SegmentationConfig:
    """Hyperparameters of the segmentation stage (defaults are the production values)."""

    k_min: int = 2  # segments among buyers
    k_max: int = 8
    non_buyer_k_max: int = 3  # customers without orders: 1 segment unless a split is clear
    non_buyer_split_silhouette: float = 0.5  # Kaufman & Rousseeuw: "reasonable structure"
    n_init: int = 4  # k-means++ seeding: a few restarts are enough for stable centroids
    max_iter: int = 300
    seed: int = 42
    # Comparing k costs (k_max - k_min + 1) fits: above this many customers it runs on a
    # fixed-seed sample, and only the chosen k is fitted on everyone.
    k_selection_sample: int = 20_000
    # Silhouette is O(n^2): scored on a fixed-seed sample of that.
    silhouette_sample: int = 5_000
    # OpenMP/BLAS threads for KMeans: 1 keeps centroids bit-identical (parallel sums' order
    # depends on the thread count), and on a shared worker threads made a 2 s fit take 40 s.
    threads: int = 1
    # Robust z-scores beyond this are clipped so single outliers cannot pull centroids.
    clip_scaled: float = 5.0
    # Order activity: "recent" = the last ``recent_days``; the share is only computed when
    # the order history is at least twice as long (otherwise everything is recent).
    recent_days: int = 30
    # Naming: a profile is "high"/"low" on a feature when its percentile rank within its
    # population is at least ``high_pct`` / at most ``low_pct``.
    high_pct: float = 0.65
    low_pct: float = 0.35
    top_pct: float = 0.8  # "champions" must be top-fifth on both frequency and spend
    new_tenure_pct: float = 0.2
    new_tenure_ratio: float = 0.25  # ...and at most this share of the population's median tenure
    # A buyer segment has lapsed when its recency ranks high (``high_pct``) and is at
    # least this multiple of the buyers' median recency ("much worse than usual").
    lapsed_recency_ratio: float = 2.0
    returner_pct: float = 0.8
    returner_min_rate: float = 0.1  # ...and at least this share of the spend comes back
    cart_abandoner_rate: float = 0.5
    # Profile frequency below this means the cluster is customers without orders.
    non_buyer_frequency: float = 0.5
    # A cluster inherits a previous segment when at least this share of its returning
    # customers came from that segment (Hungarian matching on customer overlap).
    match_min_share: float = 0.5
    min_silhouette: float = 0.1
    min_stability: float = 0.7
    model_version: str = "kmeans-v2"


@dataclass(frozen=True)
class SegmentationResult:
    assignments: pd.DataFrame  # customer_id, segment_id, segment_name, *FEATURES (raw values)
    profiles: pd.DataFrame  # one row per segment: id, name, population, size, profile in original units
    metrics: dict[str, Any] = field(default_factory=dict)

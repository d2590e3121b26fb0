"""Behavioural customer segmentation: KMeans on RFM, web and sentiment features.

The pure core :func:`segment_customers` turns ``marts.customer_features`` (plus the
run's per-customer sentiment) into named segments whose ids stay stable from day to
day; :func:`run` wires it to the warehouse. Segment names are derived from the
cluster centroids in original units, so a marketer can read them without a model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import RobustScaler

from cx.config import Settings, load_settings
from cx.model_runs import Metric, write_model_runs
from cx.models.sentiment import aggregate_sentiment
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL = "segmentation"

# Candidate clustering features, in output order. Categorical columns (region, country,
# age_band) are left out on purpose: segments describe behaviour, not demographics.
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
)
# Heavy-tailed money and counts: log1p before scaling so a few whales do not own a cluster.
LOG_FEATURES: frozenset[str] = frozenset(
    {"recency_days", "frequency", "monetary", "tenure_days", "avg_basket_size",
     "category_diversity", "web_sessions"}
)
INT_FEATURES: frozenset[str] = frozenset(
    {"recency_days", "frequency", "tenure_days", "category_diversity", "web_sessions"}
)
# Missing means "none of it" for these (no orders -> no spend, no sessions, no returns).
ZERO_IF_MISSING: frozenset[str] = frozenset(
    {"frequency", "monetary", "avg_basket_size", "category_diversity", "web_sessions", "return_rate"}
)
# Missing means "unknown" for these (no carts, no texts): impute the population median
# so that absence alone does not create a cluster.
MEDIAN_IF_MISSING: frozenset[str] = frozenset({"tenure_days", "cart_abandonment_rate", "avg_sentiment"})
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
}


@dataclass(frozen=True)
class SegmentationConfig:
    """Hyperparameters of the segmentation stage (defaults are the production values)."""

    k_min: int = 3
    k_max: int = 8
    n_init: int = 10
    max_iter: int = 300
    seed: int = 42
    # Silhouette is O(n^2): score k on a fixed-seed sample when customers are many.
    silhouette_sample: int = 10_000
    # Robust z-scores beyond this are clipped so single outliers cannot pull centroids.
    clip_scaled: float = 5.0
    # Naming: a centroid is "high"/"low" on a feature when its percentile rank within
    # the customer population is at least ``high_pct`` / at most ``low_pct``.
    high_pct: float = 0.65
    low_pct: float = 0.35
    top_pct: float = 0.8  # "champions" must be top-fifth on both frequency and spend
    new_tenure_pct: float = 0.2
    # Centroid frequency below this means the cluster is mostly never-ordered customers.
    non_buyer_frequency: float = 0.5
    cart_abandoner_rate: float = 0.5
    # A cluster inherits a previous segment when at least this share of its returning
    # customers came from that segment (Hungarian matching on customer overlap).
    match_min_share: float = 0.5
    min_silhouette: float = 0.1
    min_stability: float = 0.7
    model_version: str = "kmeans-v1"


@dataclass(frozen=True)
class SegmentationResult:
    assignments: pd.DataFrame  # customer_id, segment_id, segment_name, *FEATURES (raw values)
    profiles: pd.DataFrame  # one row per segment: id, name, size, centroid in original units
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Prepared:
    ids: pd.Series
    raw: pd.DataFrame  # input values, typed, NULLs kept (what users see)
    imputed: pd.DataFrame  # original units after imputation (used features only)
    scaled: np.ndarray
    scaler: RobustScaler | None
    used: list[str]
    dropped: dict[str, str]


def _raw_features(features: pd.DataFrame) -> pd.DataFrame:
    raw = pd.DataFrame(index=features.index)
    for name in FEATURES:
        values = (
            pd.to_numeric(features[name], errors="coerce")
            if name in features.columns
            else pd.Series(np.nan, index=features.index)
        )
        raw[name] = values.astype("float64")
    return raw


def _impute(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    imputed = pd.DataFrame(index=raw.index)
    dropped: dict[str, str] = {}
    for name in FEATURES:
        col = raw[name]
        if col.notna().sum() == 0:
            dropped[name] = "all missing"
            continue
        if name == "recency_days":
            # Never ordered: nothing bought in their whole tenure, so recency = tenure;
            # without tenure, as lapsed as the most lapsed buyer.
            fill = raw["tenure_days"] if raw["tenure_days"].notna().any() else pd.Series(np.nan, index=raw.index)
            col = col.fillna(fill).fillna(col.max())
        elif name in ZERO_IF_MISSING:
            col = col.fillna(0.0)
        elif name in MEDIAN_IF_MISSING:
            col = col.fillna(col.median())
        if name in LOG_FEATURES:
            col = col.clip(lower=0.0)  # refunds can make spend negative; log1p needs >= 0
        if col.nunique(dropna=True) <= 1:
            dropped[name] = "constant"
            continue
        imputed[name] = col
    return imputed, dropped


def _transform(imputed: pd.DataFrame) -> np.ndarray:
    values = imputed.to_numpy(dtype="float64", copy=True)
    for j, name in enumerate(imputed.columns):
        if name in LOG_FEATURES:
            values[:, j] = np.log1p(values[:, j])
    return values


def _inverse(scaled: np.ndarray, scaler: RobustScaler, columns: list[str]) -> pd.DataFrame:
    values = scaler.inverse_transform(scaled)
    for j, name in enumerate(columns):
        if name in LOG_FEATURES:
            values[:, j] = np.maximum(np.expm1(values[:, j]), 0.0)
    return pd.DataFrame(values, columns=columns)


def _prepare(features: pd.DataFrame, cfg: SegmentationConfig) -> _Prepared:
    if "customer_id" not in features.columns:
        raise ValueError("features need a customer_id column")
    features = features.drop_duplicates("customer_id", keep="last").reset_index(drop=True)
    raw = _raw_features(features)
    imputed, dropped = _impute(raw)
    used = list(imputed.columns)
    if not used:
        return _Prepared(features["customer_id"].astype("string"), raw, imputed,
                         np.zeros((len(raw), 0)), None, used, dropped)
    scaler = RobustScaler(quantile_range=(25.0, 75.0))
    scaled = scaler.fit_transform(_transform(imputed))
    scaled = np.clip(scaled, -cfg.clip_scaled, cfg.clip_scaled)
    return _Prepared(features["customer_id"].astype("string"), raw, imputed, scaled, scaler, used, dropped)


def _choose_k(x: np.ndarray, cfg: SegmentationConfig) -> tuple[np.ndarray, np.ndarray, float | None, dict[int, float]]:
    """Fit KMeans for each k in range and keep the best silhouette (labels, centers, score)."""
    n_distinct = len(np.unique(x, axis=0)) if len(x) else 0
    if n_distinct <= 2:
        # Too few distinct customers to compare k: one cluster per distinct profile.
        k = max(n_distinct, 1)
        model = KMeans(n_clusters=k, n_init=1, random_state=cfg.seed).fit(x)
        return model.labels_, model.cluster_centers_, None, {}
    k_hi = min(cfg.k_max, n_distinct - 1)
    k_lo = max(2, min(cfg.k_min, k_hi))
    sample = min(len(x), cfg.silhouette_sample)
    scores: dict[int, float] = {}
    best: tuple[float, KMeans] | None = None
    for k in range(k_lo, k_hi + 1):
        model = KMeans(n_clusters=k, n_init=cfg.n_init, max_iter=cfg.max_iter, random_state=cfg.seed).fit(x)
        if len(np.unique(model.labels_)) < 2:
            continue
        score = float(silhouette_score(x, model.labels_, sample_size=sample, random_state=cfg.seed))
        scores[k] = score
        if best is None or score > best[0] + 1e-12:  # ties keep the smaller k
            best = (score, model)
    if best is None:
        model = KMeans(n_clusters=1, n_init=1, random_state=cfg.seed).fit(x)
        return model.labels_, model.cluster_centers_, None, scores
    return best[1].labels_, best[1].cluster_centers_, best[0], scores


def _percentile_rank(population: pd.Series, value: float) -> float:
    """Mid-rank percentile of ``value`` in ``population`` (ties count half)."""
    pop = population.to_numpy(dtype="float64")
    return float(((pop < value).sum() + 0.5 * (pop == value).sum()) / max(len(pop), 1))


def _base_name(centroid: dict[str, float], pct: dict[str, float], cfg: SegmentationConfig) -> str:
    """Rule-based name from a centroid in original units and its population percentiles."""

    def hi(name: str, bound: float | None = None) -> bool:
        return name in pct and pct[name] >= (cfg.high_pct if bound is None else bound)

    def lo(name: str, bound: float | None = None) -> bool:
        return name in pct and pct[name] <= (cfg.low_pct if bound is None else bound)

    if centroid.get("frequency", 1.0) < cfg.non_buyer_frequency:
        if centroid.get("cart_abandonment_rate", 0.0) >= cfg.cart_abandoner_rate and hi("cart_abandonment_rate"):
            return "cart abandoners"
        if hi("web_sessions"):
            return "browsers"
        if lo("tenure_days", cfg.new_tenure_pct):
            return "new"
        return "prospects"
    if lo("tenure_days", cfg.new_tenure_pct):
        return "new"
    recent = lo("recency_days", 0.5)
    if hi("frequency", cfg.top_pct) and hi("monetary", cfg.top_pct) and recent:
        return "champions"
    if (hi("frequency") or hi("monetary")) and hi("recency_days"):
        return "at risk"
    if hi("frequency") and not hi("recency_days"):
        return "loyal"
    if hi("monetary") or hi("avg_basket_size"):
        return "big spenders"
    if hi("recency_days"):
        return "hibernating"
    if centroid.get("cart_abandonment_rate", 0.0) >= cfg.cart_abandoner_rate and hi("cart_abandonment_rate"):
        return "cart abandoners"
    if lo("avg_basket_size") or lo("monetary"):
        return "bargain hunters"
    if hi("return_rate"):
        return "frequent returners"
    return "occasional buyers"


def _unique_names(
    base: dict[int, str], kept: dict[int, str], scaled_centers: np.ndarray, used: list[str]
) -> dict[int, str]:
    """Names unique per run: kept names win; newcomers sharing a name get a qualifier
    from the feature on which the clashing clusters differ most."""
    names = dict(kept)
    holder = {name: c for c, name in kept.items()}
    fresh = sorted(c for c in base if c not in kept)
    groups: dict[str, list[int]] = {}
    for c in fresh:
        groups.setdefault(base[c], []).append(c)
    for name, members in groups.items():
        if len(members) == 1 and name not in holder:
            names[members[0]] = name
            continue
        compare = members + ([holder[name]] if name in holder else [])
        spread = scaled_centers[compare].max(axis=0) - scaled_centers[compare].min(axis=0)
        j = int(np.argmax(spread)) if len(spread) else 0
        label = FEATURE_LABELS.get(used[j], used[j]) if used else "group"
        mid = float(np.median(scaled_centers[compare, j])) if len(spread) else 0.0
        for c in members:
            level = "high" if scaled_centers[c, j] > mid else "low"
            names[c] = f"{name} ({level} {label})"
    # Final guard: any remaining clash gets an ordinal, in cluster order.
    seen: dict[str, int] = {}
    for c in sorted(names, key=lambda c: (c not in kept, c)):
        name = names[c]
        if name in seen:
            seen[name] += 1
            names[c] = f"{name} {seen[name]}"
        else:
            seen[name] = 1
    return names


def _match_previous(
    ids: pd.Series, labels: np.ndarray, previous: pd.DataFrame, cfg: SegmentationConfig
) -> dict[int, tuple[int, str]]:
    """Map today's clusters to previous segments by customer overlap (Hungarian)."""
    prev = previous[["customer_id", "segment_id", "segment_name"]].dropna(subset=["customer_id", "segment_id"])
    today = pd.DataFrame({"customer_id": ids.astype("string"), "cluster": labels})
    prev = prev.assign(customer_id=prev["customer_id"].astype("string"), segment_id=prev["segment_id"].astype("int64"))
    merged = today.merge(prev, on="customer_id", how="inner")
    if merged.empty:
        return {}
    table = pd.crosstab(merged["cluster"], merged["segment_id"])
    rows, cols = linear_sum_assignment(-table.to_numpy())
    prev_names = prev.drop_duplicates("segment_id").set_index("segment_id")["segment_name"].astype(str)
    matched: dict[int, tuple[int, str]] = {}
    for r, c in zip(rows, cols, strict=True):
        overlap = table.iat[r, c]
        returning = table.iloc[r].sum()
        if returning and overlap / returning >= cfg.match_min_share:
            segment_id = int(table.columns[c])
            matched[int(table.index[r])] = (segment_id, prev_names[segment_id])
    return matched


def segment_customers(
    features: pd.DataFrame,
    cfg: SegmentationConfig,
    previous: pd.DataFrame | None = None,
    min_new_id: int = 1,
) -> SegmentationResult:
    """Cluster customers and name the clusters.

    ``features``: marts.customer_features columns (+ optional ``avg_sentiment``).
    ``previous``: the last run's customer_segments (customer_id, segment_id, segment_name);
    matched clusters keep its ids and names. New segments get ids >= ``min_new_id`` and
    above every previous id, so a retired id is never reused for a different group.
    """
    prep = _prepare(features, cfg)
    n = len(prep.ids)
    if n == 0:
        empty = pd.DataFrame({"customer_id": pd.Series(dtype="string"),
                              "segment_id": pd.Series(dtype="int32"),
                              "segment_name": pd.Series(dtype="string")})
        return SegmentationResult(_typed(empty, prep.raw), pd.DataFrame(), {"k": 0, "customers": 0})

    if prep.used:
        labels, centers, silhouette, by_k = _choose_k(prep.scaled, cfg)
    else:
        labels, centers, silhouette, by_k = np.zeros(n, dtype=int), np.zeros((1, 0)), None, {}
    clusters = sorted(np.unique(labels).tolist())
    sizes = {c: int((labels == c).sum()) for c in clusters}

    # Centroids in original units and their percentile rank within the population.
    if prep.scaler is not None:
        centroids = _inverse(centers, prep.scaler, prep.used)
    else:
        centroids = pd.DataFrame(index=range(len(centers)))
    base: dict[int, str] = {}
    for c in clusters:
        cen = {name: float(centroids.at[c, name]) for name in prep.used}
        pct = {name: _percentile_rank(prep.imputed[name], cen[name]) for name in prep.used}
        base[c] = _base_name(cen, pct, cfg)

    matched = _match_previous(prep.ids, labels, previous, cfg) if previous is not None and len(previous) else {}
    kept_names = {c: name for c, (_, name) in matched.items()}
    names = _unique_names(base, kept_names, centers, prep.used)
    previous_ids = [] if previous is None else [int(s) for s in previous["segment_id"].dropna()]
    next_id = max([min_new_id - 1, *previous_ids]) + 1
    segment_ids: dict[int, int] = {c: sid for c, (sid, _) in matched.items()}
    for c in sorted((c for c in clusters if c not in matched), key=lambda c: (-sizes[c], c)):
        segment_ids[c] = next_id
        next_id += 1

    out = pd.DataFrame({
        "customer_id": prep.ids.to_numpy(),
        "segment_id": np.array([segment_ids[c] for c in labels], dtype="int64"),
        "segment_name": [names[c] for c in labels],
    })
    assignments = _typed(out, prep.raw)

    profiles = centroids.loc[clusters].reset_index(drop=True)
    profiles.insert(0, "size", [sizes[c] for c in clusters])
    profiles.insert(0, "segment_name", [names[c] for c in clusters])
    profiles.insert(0, "segment_id", [segment_ids[c] for c in clusters])
    profiles = profiles.sort_values("segment_id").reset_index(drop=True)

    stability = None
    if previous is not None and len(previous):
        both = assignments[["customer_id", "segment_id"]].merge(
            previous[["customer_id", "segment_id"]].assign(
                customer_id=lambda f: f["customer_id"].astype("string")),
            on="customer_id", suffixes=("", "_prev"))
        if len(both):
            stability = float((both["segment_id"] == both["segment_id_prev"].astype("int64")).mean())
    metrics: dict[str, Any] = {
        "customers": n,
        "k": len(clusters),
        "silhouette": silhouette,
        "silhouette_by_k": {str(k): round(v, 4) for k, v in by_k.items()},
        "sizes": {names[c]: sizes[c] for c in clusters},
        "segment_ids": {names[c]: segment_ids[c] for c in clusters},
        "stability": stability,
        "matched_segments": len(matched),
        "features_used": prep.used,
        "features_dropped": prep.dropped,
    }
    return SegmentationResult(assignments, profiles, metrics)


def _typed(out: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Stable output schema: every candidate feature column, typed, NULLs preserved, so the
    table's columns do not change on days when a source is missing."""
    # segment_id is INTEGER in the contract (int32 -> DuckDB INTEGER)
    out = out.astype({"customer_id": "string", "segment_id": "int32", "segment_name": "string"})
    for name in FEATURES:
        col = raw[name].reset_index(drop=True) if len(raw) else pd.Series(dtype="float64")
        out[name] = col.round().astype("Int64") if name in INT_FEATURES else col.astype("float64")
    return out


def _centroid_details(profiles: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Segment centroids in original units, for analysts reading model_runs."""
    if profiles.empty:
        return {}
    values = profiles.drop(columns=["segment_id", "size"]).set_index("segment_name")
    return {str(name): {k: round(float(v), 3) for k, v in row.items()} for name, row in values.iterrows()}


def _read_inputs(con: Any, as_of: date) -> tuple[pd.DataFrame | None, pd.DataFrame | None, int]:
    if not table_exists(con, "customer_features", "marts"):
        return None, None, 1
    features = read_df(con, "select * from marts.customer_features")
    sentiment = _read_sentiment(con, as_of)
    if sentiment is not None and len(sentiment):
        features = features.drop(columns=["avg_sentiment"], errors="ignore").merge(
            sentiment[["customer_id", "avg_sentiment"]], on="customer_id", how="left")
    previous, min_new_id = None, 1
    if table_exists(con, "customer_segments"):
        previous = read_df(
            con,
            "select customer_id, segment_id, segment_name from main.customer_segments "
            "where as_of_date = (select max(as_of_date) from main.customer_segments where as_of_date < ?)",
            [as_of],
        )
        row = con.execute(
            "select max(segment_id) from main.customer_segments where as_of_date < ?", [as_of]
        ).fetchone()
        min_new_id = int(row[0]) + 1 if row and row[0] is not None else 1
    return features, previous, min_new_id


def _read_sentiment(con: Any, as_of: date) -> pd.DataFrame | None:
    """Per-customer mean sentiment from this run's sentiment outputs, if they exist."""
    if not table_exists(con, "fct_texts", "marts"):
        return None
    parts = []
    for table, key in (("review_sentiment", "review_id"), ("ticket_sentiment", "ticket_id")):
        if table_exists(con, table):
            parts.append(read_df(
                con, f"select {key}, sentiment_score from main.{table} where as_of_date = ?", [as_of]))
    if not parts or all(p.empty for p in parts):
        return None
    texts = read_df(con, "select text_id, source, customer_id, product_id from marts.fct_texts")
    per_customer, _ = aggregate_sentiment(pd.concat(parts, ignore_index=True), texts)
    return per_customer


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Segment today's customers and publish main.customer_segments + model_runs."""
    settings = settings or load_settings()
    cfg = SegmentationConfig(seed=settings.seed)
    with connect(settings) as con:
        features, previous, min_new_id = _read_inputs(con, as_of)
    if features is None:
        log.info("segmentation skipped: marts.customer_features is missing")
        return {"skipped": "marts.customer_features is missing"}
    if features.empty:
        log.info("segmentation skipped: marts.customer_features is empty")
        return {"skipped": "marts.customer_features is empty"}

    result = segment_customers(features, cfg, previous, min_new_id=min_new_id)
    m = result.metrics
    details = {"sizes": m["sizes"], "segment_ids": m["segment_ids"], "features_used": m["features_used"],
               "features_dropped": m["features_dropped"], "silhouette_by_k": m["silhouette_by_k"]}
    metrics = [
        Metric("silhouette", m["silhouette"], None,
               None if m["silhouette"] is None else m["silhouette"] >= cfg.min_silhouette, details),
        Metric("k", float(m["k"]), details={"sizes": m["sizes"], "centroids": _centroid_details(result.profiles)}),
        Metric("stability", m["stability"], None,
               None if m["stability"] is None else m["stability"] >= cfg.min_stability,
               {"matched_segments": m["matched_segments"], "previous": previous is not None and len(previous) > 0}),
        Metric("customers", float(m["customers"])),
    ]
    with connect(settings) as con:
        rows = replace_partition(con, "customer_segments", result.assignments, as_of)
        write_model_runs(con, MODEL, cfg.model_version, metrics, as_of)
    log.info("segmentation: %d customers, k=%s, silhouette=%s, stability=%s",
             rows, m["k"], m["silhouette"], m["stability"])
    return {"rows": rows, "k": m["k"], "silhouette": m["silhouette"], "stability": m["stability"],
            "sizes": m["sizes"], "model_version": cfg.model_version}

"""KMeans per population, k chosen by a consensus of internal indices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from threadpoolctl import threadpool_limits

from cx.models.segmentation._config import SegmentationConfig
from cx.models.segmentation._features import _design


@dataclass(frozen=True)
class _Fit:
    labels: np.ndarray
    centers: np.ndarray
    silhouette: float | None
    by_k: dict[int, dict[str, float]]
    used: list[str]
    dropped: dict[str, str]


def _rank_consensus(by_k: dict[int, dict[str, float]]) -> int:
    """k with the best mean rank over silhouette (high), Calinski-Harabasz (high) and
    Davies-Bouldin (low); ties go to the higher silhouette, then the smaller k."""
    ks = sorted(by_k)
    frame = pd.DataFrame.from_dict(by_k, orient="index").loc[ks]
    ranks = pd.concat(
        [
            frame["silhouette"].rank(ascending=False),
            frame["calinski_harabasz"].rank(ascending=False),
            frame["davies_bouldin"].rank(ascending=True),
        ],
        axis=1,
    ).mean(axis=1)
    order = sorted(ks, key=lambda k: (ranks[k], -frame.at[k, "silhouette"], k))
    return int(order[0])


def _single(x: np.ndarray, k: int, cfg: SegmentationConfig) -> tuple[np.ndarray, np.ndarray]:
    model = KMeans(n_clusters=k, n_init=1, random_state=cfg.seed).fit(x)
    return model.labels_, model.cluster_centers_


def _choose_k(
    x: np.ndarray, cfg: SegmentationConfig, k_lo: int, k_hi: int, min_silhouette: float | None = None
) -> tuple[np.ndarray, np.ndarray, float | None, dict]:
    """Fit KMeans for each k in [k_lo, k_hi]; keep the consensus k (see module doc).
    With ``min_silhouette`` (an optional split), keep the best-silhouette k instead, and
    stay at one cluster unless it reaches ``min_silhouette``."""
    n_distinct = len(np.unique(x, axis=0)) if len(x) else 0
    if x.shape[1] == 0 or n_distinct <= 1:
        return np.zeros(len(x), dtype=int), np.zeros((1, x.shape[1])), None, {}
    if n_distinct == 2:
        # Too few distinct customers to compare k: one cluster per distinct profile.
        labels, centers = _single(x, 2, cfg)
        return labels, centers, None, {}
    k_hi = min(k_hi, n_distinct - 1)
    k_lo = max(2, min(k_lo, k_hi))
    # Many customers: compare k on a fixed-seed sample, then fit the chosen k on everyone.
    sampled = len(x) > cfg.k_selection_sample
    xs = x[np.random.default_rng(cfg.seed).choice(len(x), cfg.k_selection_sample, replace=False)] if sampled else x
    sample = min(len(xs), cfg.silhouette_sample)
    by_k: dict[int, dict[str, float]] = {}
    models: dict[int, KMeans] = {}
    for k in range(k_lo, k_hi + 1):
        model = KMeans(n_clusters=k, n_init=cfg.n_init, max_iter=cfg.max_iter, random_state=cfg.seed).fit(xs)
        if len(np.unique(model.labels_)) < 2:
            continue
        models[k] = model
        by_k[k] = {
            "silhouette": float(silhouette_score(xs, model.labels_, sample_size=sample, random_state=cfg.seed)),
            "calinski_harabasz": float(calinski_harabasz_score(xs, model.labels_)),
            "davies_bouldin": float(davies_bouldin_score(xs, model.labels_)),
        }
    if not by_k:
        labels, centers = _single(x, 1, cfg)
        return labels, centers, None, by_k
    if min_silhouette is None:
        best = _rank_consensus(by_k)
    else:
        best = max(sorted(by_k), key=lambda k: by_k[k]["silhouette"])
    score = by_k[best]["silhouette"]
    if min_silhouette is not None and score < min_silhouette:
        labels, centers = _single(x, 1, cfg)
        return labels, centers, None, by_k
    if sampled:
        final = KMeans(n_clusters=best, n_init=cfg.n_init, max_iter=cfg.max_iter, random_state=cfg.seed).fit(x)
        return final.labels_, final.cluster_centers_, score, by_k
    return models[best].labels_, models[best].cluster_centers_, score, by_k


def _fit_population(
    imputed: pd.DataFrame,
    candidates: tuple[str, ...],
    cfg: SegmentationConfig,
    k_lo: int,
    k_hi: int,
    min_silhouette: float | None = None,
    split_on: frozenset[str] | None = None,
) -> _Fit:
    """Cluster one population; with ``split_on``, it stays one cluster unless at least
    one of those features varies in it."""
    x, used, dropped = _design(imputed, candidates, cfg)
    if len(x) == 0:
        return _Fit(np.zeros(0, dtype=int), np.zeros((0, len(used))), None, {}, used, dropped)
    if split_on is not None and not split_on & set(used):
        return _Fit(np.zeros(len(x), dtype=int), x.mean(axis=0, keepdims=True), None, {}, used, dropped)
    with threadpool_limits(limits=cfg.threads):
        labels, centers, silhouette, by_k = _choose_k(x, cfg, k_lo, k_hi, min_silhouette)
    return _Fit(labels, centers, silhouette, by_k, used, dropped)


def _fit_details(fit: _Fit, n: int) -> dict[str, Any]:
    return {
        "customers": n,
        "k": int(len(np.unique(fit.labels))) if n else 0,
        "silhouette": None if fit.silhouette is None else round(fit.silhouette, 4),
        "by_k": {str(k): {m: round(v, 4) for m, v in s.items()} for k, s in fit.by_k.items()},
        "features_used": fit.used,
        "features_dropped": fit.dropped,
    }

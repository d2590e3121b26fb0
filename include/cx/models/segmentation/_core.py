"""The pure core: cluster buyers and customers without orders apart, describe and name
the clusters, carry yesterday's identities over, and report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cx.models.segmentation._clustering import _Fit, _fit_details, _fit_population
from cx.models.segmentation._config import (
    BUYERS,
    ENGAGEMENT_FEATURES,
    FEATURES,
    INT_FEATURES,
    NON_BUYER_FEATURES,
    NON_BUYERS,
    UNDEFINED_WITHOUT_ORDERS,
    SegmentationConfig,
    SegmentationResult,
)
from cx.models.segmentation._features import _buyer_mask, _impute, _raw_features
from cx.models.segmentation._naming import (
    _candidate_names,
    _match_previous,
    _name_root,
    _percentile_ranks,
    _profile,
    _unique_names,
)
from cx.row_order import sort_rows


@dataclass(frozen=True)
class _Clusters:
    """Every customer's cluster (dense over both populations) and each cluster's population."""

    labels: np.ndarray
    fits: dict[str, _Fit]
    populations: dict[int, str]

    @property
    def ids(self) -> list[int]:
        return sorted(np.unique(self.labels).tolist())

    @property
    def sizes(self) -> dict[int, int]:
        return {c: int((self.labels == c).sum()) for c in self.ids}


@dataclass(frozen=True)
class _Descriptions:
    """Per cluster: its profile in original units, its members' mean percentile ranks
    (one row per cluster) and the names it qualifies for, best first."""

    profiles: dict[int, dict[str, float]]
    pct: pd.DataFrame
    candidates: dict[int, list[tuple[str, float]]]


@dataclass(frozen=True)
class _Identity:
    """Segment id and name per cluster; which clusters inherited yesterday's segments."""

    segment_ids: dict[int, int]
    names: dict[int, str]
    matched: dict[int, tuple[int, str]]
    renamed: dict[str, int]  # yesterday's name -> the cluster that inherited its id under a new name


def segment_customers(
    features: pd.DataFrame,
    cfg: SegmentationConfig,
    previous: pd.DataFrame | None = None,
    min_new_id: int = 1,
) -> SegmentationResult:
    """Cluster customers and name the clusters.

    ``features``: marts.customer_features columns (+ optional ``avg_sentiment``,
    ``recent_order_share``, ``avg_item_price``, see :func:`order_activity`).
    ``previous``: the last run's customer_segments (customer_id, segment_id, segment_name);
    matched clusters keep its ids and names. New segments get ids >= ``min_new_id`` and
    above every previous id, so a retired id is never reused for a different group.
    """
    if "customer_id" not in features.columns:
        raise ValueError("features need a customer_id column")
    features = sort_rows(features, ["customer_id"]).drop_duplicates("customer_id", keep="last").reset_index(drop=True)
    ids = features["customer_id"].astype("string")
    raw = _raw_features(features)
    if len(raw) == 0:
        empty = pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="string"),
                "segment_id": pd.Series(dtype="int32"),
                "segment_name": pd.Series(dtype="string"),
            }
        )
        return SegmentationResult(_typed(empty, raw), pd.DataFrame(), {"k": 0, "customers": 0})

    imputed, all_missing = _impute(raw)
    buyers = _buyer_mask(raw)
    clusters = _cluster_populations(imputed, buyers, cfg)
    described = _describe(imputed, buyers, clusters, cfg)
    identity = _identify(ids, clusters, described, previous, min_new_id, cfg)

    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "segment_id": np.array([identity.segment_ids[c] for c in clusters.labels], dtype="int64"),
            "segment_name": [identity.names[c] for c in clusters.labels],
        }
    )
    assignments = _typed(out, raw)
    metrics = _metrics(assignments, previous, clusters, identity, buyers, all_missing)
    return SegmentationResult(assignments, _profiles_frame(clusters, described, identity), metrics)


def _cluster_populations(imputed: pd.DataFrame, buyers: np.ndarray, cfg: SegmentationConfig) -> _Clusters:
    """Buyers on purchase behaviour, customers without orders on what they do have."""
    labels = np.zeros(len(imputed), dtype=int)
    fits: dict[str, _Fit] = {}
    populations: dict[int, str] = {}
    offset = 0
    for population, mask in ((BUYERS, buyers), (NON_BUYERS, ~buyers)):
        if not mask.any():
            continue
        part = imputed.loc[mask].reset_index(drop=True)
        if population == BUYERS:
            fit = _fit_population(part, FEATURES, cfg, cfg.k_min, cfg.k_max)
        else:
            # Tenure and sentiment alone are a continuum, not behaviour: split prospects
            # only on how they engage (sessions, carts).
            fit = _fit_population(
                part,
                NON_BUYER_FEATURES,
                cfg,
                2,
                cfg.non_buyer_k_max,
                cfg.non_buyer_split_silhouette,
                ENGAGEMENT_FEATURES,
            )
        # Relabel 0..k-1 densely, then shift past the previous population's clusters.
        _, dense = np.unique(fit.labels, return_inverse=True)
        labels[mask] = dense + offset
        for c in range(dense.max() + 1):
            populations[offset + c] = population
        offset += int(dense.max()) + 1
        fits[population] = fit
    return _Clusters(labels, fits, populations)


def _describe(imputed: pd.DataFrame, buyers: np.ndarray, clusters: _Clusters, cfg: SegmentationConfig) -> _Descriptions:
    """Profiles in original units (what users read), and for naming the mean percentile
    rank of the members, an RFM-style score that does not depend on the segment's size
    the way the rank of its centroid does: buyers are ranked among buyers, customers
    without orders among everyone (on the features they have)."""
    buyer_ranks = _percentile_ranks(imputed.loc[buyers])
    everyone_ranks = _percentile_ranks(imputed[[f for f in NON_BUYER_FEATURES if f in imputed.columns]])
    buyer_medians = imputed.loc[buyers].median().to_dict() if buyers.any() else {}
    everyone_medians = imputed.median().to_dict()
    profile_rows: dict[int, dict[str, float]] = {}
    pct_rows: dict[int, dict[str, float]] = {}
    candidates: dict[int, list[tuple[str, float]]] = {}
    for c in clusters.ids:
        members = clusters.labels == c
        prof = _profile(imputed.loc[members])
        if clusters.populations[c] == NON_BUYERS:
            for name in UNDEFINED_WITHOUT_ORDERS & set(prof):
                prof[name] = float("nan")
            pct = everyone_ranks.loc[members].mean().to_dict()
        else:
            pct = buyer_ranks.loc[members[buyers]].mean().to_dict()
        profile_rows[c], pct_rows[c] = prof, {f: float(v) for f, v in pct.items()}
        medians = everyone_medians if clusters.populations[c] == NON_BUYERS else buyer_medians
        candidates[c] = _candidate_names(prof, pct, cfg, medians)
    pct_frame = pd.DataFrame.from_dict(pct_rows, orient="index").reindex(clusters.ids)
    return _Descriptions(profile_rows, pct_frame, candidates)


def _identify(
    ids: pd.Series,
    clusters: _Clusters,
    described: _Descriptions,
    previous: pd.DataFrame | None,
    min_new_id: int,
    cfg: SegmentationConfig,
) -> _Identity:
    """Ids and names: matched clusters keep yesterday's, new ones get fresh ids."""
    has_previous = previous is not None and len(previous)
    matched = _match_previous(ids, clusters.labels, previous, cfg) if has_previous else {}
    # A matched segment keeps its id; it keeps its name too unless its behaviour no longer
    # fits it (yesterday's "big spenders" that went quiet are renamed, not hidden).
    kept_names = {
        c: name for c, (_, name) in matched.items() if _name_root(name) in {n for n, _ in described.candidates[c]}
    }
    renamed = {matched[c][1]: c for c in matched if c not in kept_names}
    names = _unique_names(described.candidates, kept_names, described.pct)
    previous_ids = [] if previous is None else [int(s) for s in previous["segment_id"].dropna()]
    next_id = max([min_new_id - 1, *previous_ids]) + 1
    segment_ids: dict[int, int] = {c: sid for c, (sid, _) in matched.items()}
    sizes = clusters.sizes
    for c in sorted((c for c in clusters.ids if c not in matched), key=lambda c: (-sizes[c], c)):
        segment_ids[c] = next_id
        next_id += 1
    return _Identity(segment_ids, names, matched, renamed)


def _profiles_frame(clusters: _Clusters, described: _Descriptions, identity: _Identity) -> pd.DataFrame:
    """One row per segment: id, name, population, size, profile in original units."""
    ids, sizes = clusters.ids, clusters.sizes
    profiles = pd.DataFrame.from_dict(described.profiles, orient="index").reindex(ids).reset_index(drop=True)
    profiles.insert(0, "size", [sizes[c] for c in ids])
    profiles.insert(0, "population", [clusters.populations[c] for c in ids])
    profiles.insert(0, "segment_name", [identity.names[c] for c in ids])
    profiles.insert(0, "segment_id", [identity.segment_ids[c] for c in ids])
    return profiles.sort_values("segment_id").reset_index(drop=True)


def _stability(assignments: pd.DataFrame, previous: pd.DataFrame | None) -> float | None:
    """Share of returning customers whose segment id did not change."""
    if previous is None or not len(previous):
        return None
    both = assignments[["customer_id", "segment_id"]].merge(
        previous[["customer_id", "segment_id"]].assign(customer_id=lambda f: f["customer_id"].astype("string")),
        on="customer_id",
        suffixes=("", "_prev"),
    )
    if not len(both):
        return None
    return float((both["segment_id"] == both["segment_id_prev"].astype("int64")).mean())


def _metrics(
    assignments: pd.DataFrame,
    previous: pd.DataFrame | None,
    clusters: _Clusters,
    identity: _Identity,
    buyers: np.ndarray,
    all_missing: dict[str, str],
) -> dict[str, Any]:
    fits, names, ids, sizes = clusters.fits, identity.names, clusters.ids, clusters.sizes
    main = fits.get(BUYERS) or fits.get(NON_BUYERS)
    used = [f for f in FEATURES if any(f in fit.used for fit in fits.values())]
    return {
        "customers": len(assignments),
        "k": len(ids),
        # The silhouette that chose k: buyers' (the segmentation proper).
        "silhouette": None if main is None else main.silhouette,
        "silhouette_by_k": {} if main is None else {str(k): round(s["silhouette"], 4) for k, s in main.by_k.items()},
        "populations": {
            p: _fit_details(fit, int((buyers if p == BUYERS else ~buyers).sum())) for p, fit in fits.items()
        },
        "sizes": {names[c]: sizes[c] for c in ids},
        "segment_ids": {names[c]: identity.segment_ids[c] for c in ids},
        "stability": _stability(assignments, previous),
        "matched_segments": len(identity.matched),
        "renamed_segments": {old: names[c] for old, c in identity.renamed.items()},
        "features_used": used,
        "features_dropped": {
            **all_missing,
            **{f: r for fit in fits.values() for f, r in fit.dropped.items() if f not in used and f not in all_missing},
        },
    }


def _typed(out: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Stable output schema: every candidate feature column, typed, NULLs preserved, so the
    table's columns do not change on days when a source is missing."""
    # segment_id is INTEGER in the contract (int32 -> DuckDB INTEGER)
    out = out.astype({"customer_id": "string", "segment_id": "int32", "segment_name": "string"})
    for name in FEATURES:
        col = raw[name].reset_index(drop=True) if len(raw) else pd.Series(dtype="float64")
        out[name] = col.round().astype("Int64") if name in INT_FEATURES else col.astype("float64")
    return out

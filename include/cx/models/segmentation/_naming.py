"""Segment names from members' percentile ranks, kept unique, and identity across days
(yesterday's segments matched by customer overlap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cx.models.segmentation._config import FEATURE_LABELS, LOG_FEATURES, SegmentationConfig


def _percentile_ranks(values: pd.DataFrame) -> pd.DataFrame:
    """Mid-rank percentile of every value within its column (ties share the mid-rank)."""
    return (values.rank(method="average") - 0.5) / max(len(values), 1)


def _profile(imputed: pd.DataFrame) -> dict[str, float]:
    """A cluster in original units: mean, or geometric mean for log features (the
    centroid seen through the transform, not pulled by a few whales)."""
    out: dict[str, float] = {}
    for name in imputed.columns:
        col = imputed[name].to_numpy(dtype="float64")
        out[name] = float(np.expm1(np.log1p(col).mean()) if name in LOG_FEATURES else col.mean())
    return out


def _candidate_names(
    centroid: dict[str, float], pct: dict[str, float], cfg: SegmentationConfig, medians: dict[str, float] | None = None
) -> list[tuple[str, float]]:
    """Names a profile qualifies for, best first, each with its strength: how far its
    defining percentile ranks are from the median (0 at the median, 1 at an extreme; the
    weakest one for a name defined by several features).

    ``centroid``: the profile in original units; ``pct``: its percentile ranks within the
    population it was clustered in (buyers, or everyone for non-buyers); ``medians``:
    that population's medians in original units, which guard the relative rules ("new"
    must also be under a quarter of the usual tenure, "lapsed" twice the usual recency).
    Lifecycle states come first and exclusively: a new or a lapsed group is named for
    that, whatever it spends. Otherwise the most pronounced behaviour names the group.
    """

    def high(name: str, bound: float | None = None) -> float | None:
        b = cfg.high_pct if bound is None else bound
        return 2.0 * abs(pct[name] - 0.5) if name in pct and pct[name] >= b else None

    def low(name: str, bound: float | None = None) -> float | None:
        b = cfg.low_pct if bound is None else bound
        return 2.0 * abs(pct[name] - 0.5) if name in pct and pct[name] <= b else None

    def weakest(*margins: float | None) -> float | None:
        return None if any(m is None for m in margins) else min(m for m in margins if m is not None)

    abandoning = (
        high("cart_abandonment_rate") if centroid.get("cart_abandonment_rate", 0.0) >= cfg.cart_abandoner_rate else None
    )
    new = low("tenure_days", cfg.new_tenure_pct)
    usual_tenure = (medians or {}).get("tenure_days")
    if usual_tenure is not None and centroid.get("tenure_days", 0.0) > cfg.new_tenure_ratio * usual_tenure:
        new = None  # ranks low in a small or young population, but has been around for a while
    if centroid.get("frequency", 1.0) < cfg.non_buyer_frequency:
        for name, margin in (
            ("cart abandoners", abandoning),
            ("new sign-ups", new),
            ("browsers", high("web_sessions")),
            ("dormant accounts", low("web_sessions")),
        ):
            if margin is not None:
                return [(name, margin)]
        return [("prospects", 0.0)]
    if new is not None:
        return [("new", new)]
    lapsed = high("recency_days")
    usual = (medians or {}).get("recency_days")
    if usual is not None and centroid.get("recency_days", 0.0) < cfg.lapsed_recency_ratio * max(usual, 1.0):
        lapsed = None  # ranks high, but only a few days more than usual
    if lapsed is not None:
        valuable = high("frequency") is not None or high("monetary") is not None
        return [("at risk" if valuable else "hibernating", lapsed)]
    spend = [m for m in (high("monetary"), high("avg_basket_size"), high("avg_item_price")) if m is not None]
    returns = (
        high("return_rate", cfg.returner_pct) if centroid.get("return_rate", 0.0) >= cfg.returner_min_rate else None
    )
    # Top-fifth on frequency and spend, and recent: the conjunction says more than either trait.
    champions = weakest(high("frequency", cfg.top_pct), high("monetary", cfg.top_pct), low("recency_days", 0.5))
    options = [
        ("bargain hunters", low("avg_item_price")),
        ("big spenders", max(spend) if spend else None),
        ("loyal", high("frequency")),
        ("frequent returners", returns),
        ("hesitant buyers", abandoning),  # they do buy, but leave many carts behind
        ("cooling down", high("recency_days")),
    ]
    ranked = sorted(((n, m) for n, m in options if m is not None), key=lambda nm: -nm[1])
    if champions is not None:
        ranked.insert(0, ("champions", champions))
    return ranked or [("occasional buyers", 0.0)]


def _base_name(
    centroid: dict[str, float], pct: dict[str, float], cfg: SegmentationConfig, medians: dict[str, float] | None = None
) -> str:
    """The best name a profile qualifies for (see :func:`_candidate_names`)."""
    return _candidate_names(centroid, pct, cfg, medians)[0][0]


def _unique_names(
    candidates: dict[int, list[tuple[str, float]]], kept: dict[int, str], pct: pd.DataFrame
) -> dict[int, str]:
    """One distinct name per cluster. Kept names (yesterday's) win; the others are served
    strongest first, each taking its best candidate still free; clusters left with only
    taken names get a qualifier from the feature on which they differ most from the
    holders of that name (in percentile rank)."""
    names = dict(kept)
    taken = set(kept.values())
    clash: dict[str, list[int]] = {}
    order = sorted((c for c in candidates if c not in kept), key=lambda c: (-candidates[c][0][1], c))
    for c in order:
        free = [name for name, _ in candidates[c] if name not in taken]
        if free:
            names[c] = free[0]
            taken.add(free[0])
        else:
            clash.setdefault(candidates[c][0][0], []).append(c)
    for name, members in clash.items():
        holder = [h for h, n in names.items() if n == name]
        # A fresh holder is qualified too ("x (high spend)" next to "x (low spend)");
        # a name kept from yesterday never changes.
        members = members + [h for h in holder if h not in kept]
        holder = [h for h in holder if h in kept]
        group = sorted(members) + holder
        members = sorted(members)
        compare = pct.loc[group].dropna(axis=1, how="any")
        if compare.shape[1] == 0:
            for c in members:
                names[c] = name
            continue
        feature = str((compare.max() - compare.min()).idxmax())
        label = FEATURE_LABELS.get(feature, feature)
        ordered = compare[feature].sort_values(kind="stable").index.tolist()
        levels = {2: ("low", "high"), 3: ("low", "mid", "high")}.get(len(group))
        for c in members:
            if levels:
                names[c] = f"{name} ({levels[ordered.index(c)]} {label})"
            else:
                names[c] = name
    # Final guard: any remaining clash gets an ordinal, in cluster order (kept names first).
    seen: dict[str, int] = {}
    for c in sorted(names, key=lambda c: (c not in kept, c)):
        name = names[c]
        if name in seen:
            seen[name] += 1
            names[c] = f"{name} {seen[name]}"
        else:
            seen[name] = 1
    return names


def _name_root(name: str) -> str:
    """ "hibernating (high spend)" / "loyal 2" -> the rule name they were derived from."""
    root = name.split(" (", 1)[0].strip()
    head, _, tail = root.rpartition(" ")
    return head if head and tail.isdigit() else root


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

"""Bands and reasons a marketer reads: plain words from the customer's own history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cx.models.retention._config import RetentionConfig

RISK_BANDS = ("low", "medium", "high")
VALUE_BANDS = ("low", "medium", "high")


def bands(churn_risk: np.ndarray, expected_value: np.ndarray, cfg: RetentionConfig) -> tuple[np.ndarray, np.ndarray]:
    """risk_band from fixed churn_risk edges (comparable across days); value_band from
    the day's expected-value quantiles among buyers (top fifth: high, next 30%: medium)."""
    risk = np.array(RISK_BANDS, dtype=object)[np.searchsorted(cfg.risk_band_edges, churn_risk, side="right")]
    if len(expected_value) == 0:
        return risk, np.array([], dtype=object)
    edges = np.quantile(expected_value, cfg.value_band_quantiles)
    value = np.array(VALUE_BANDS, dtype=object)[np.searchsorted(edges, expected_value, side="right")]
    # A day where most expect nothing: nobody expected to spend nothing is "medium" or "high".
    value = np.where(expected_value <= 0, "low", value)
    return risk, value


def _days(v: pd.Series) -> pd.Series:
    return v.round().astype("Int64").astype("string")


def reasons(f: pd.DataFrame, churn_risk: np.ndarray, cfg: RetentionConfig) -> np.ndarray:
    """Up to ``cfg.max_reasons`` phrases per customer, the ones that say the most about
    their risk first (for a low-risk customer, what keeps them active)."""
    n = len(f)
    risky = churn_risk >= cfg.risk_band_edges[0]
    gap = f["mean_gap_days"]
    overdue = (f["frequency"] >= 2) & (f["overdue_ratio"] >= 1.5)
    phrases: list[tuple[np.ndarray, pd.Series | str]] = [
        (
            (risky & overdue).to_numpy(),
            "no purchase for "
            + _days(f["recency_days"])
            + " days, "
            + f["overdue_ratio"].round(1).astype("string")
            + "x their usual gap of "
            + _days(gap)
            + " days",
        ),
        ((risky & (f["frequency"] == 1)).to_numpy(), "a single purchase, " + _days(f["recency_days"]) + " days ago"),
        (
            (risky & (f["orders_prev_90"] > f["orders_90"])).to_numpy(),
            "fewer orders lately ("
            + _days(f["orders_90"])
            + " in the last 90 days, "
            + _days(f["orders_prev_90"])
            + " in the 90 before)",
        ),
        ((f["return_share"] >= 0.2).to_numpy(), "returned " + _days(f["return_share"] * 100) + "% of what they bought"),
        (
            ((f["avg_rating"] <= 2.5) | (f["avg_sentiment"] <= -0.3)).fillna(False).to_numpy(),
            "unhappy in reviews or tickets",
        ),
        ((f["tickets_90"] > 0).to_numpy(), _days(f["tickets_90"]) + " support ticket(s) in the last 90 days"),
        (
            (risky & (f["web_days_90"] == 0) & f["web_recency_days"].notna()).to_numpy(),
            "no visit to the site in 90 days",
        ),
        (
            (~risky & (f["frequency"] >= 2) & (f["overdue_ratio"] < 1.5)).to_numpy(),
            "buys regularly, about every " + _days(gap) + " days",
        ),
        ((~risky & (f["orders_90"] > f["orders_prev_90"])).to_numpy(), "ordering more often lately"),
        (((f["web_views_30"] + f["web_carts_30"]) > 0).to_numpy(), "browsed the shop in the last 30 days"),
    ]
    out = np.full(n, "", dtype=object)
    count = np.zeros(n, dtype=int)
    for mask, text in phrases:
        mask = mask & (count < cfg.max_reasons)
        if not mask.any():
            continue
        words = np.full(n, text, dtype=object) if isinstance(text, str) else text.fillna("").to_numpy(dtype=object)
        out[mask] = np.where(count[mask] > 0, out[mask] + "; " + words[mask], words[mask])
        count[mask] += 1
    # Nothing stands out: the plain facts of their rhythm.
    last = ("last purchase " + _days(f["recency_days"]) + " days ago").to_numpy(dtype=object)
    usual = ("; usually every " + _days(gap) + " days").fillna("").to_numpy(dtype=object)
    out[count == 0] = (last + usual)[count == 0]
    return out

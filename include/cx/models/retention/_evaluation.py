"""Holdout metrics and the gate: buy-again AUC for risk, Spearman and top-decile
capture for value, each candidate against the baseline on the same customers, with a
paired bootstrap saying whether a lift is more than noise."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def auc(score: np.ndarray, label: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half), None when one class is absent."""
    label = np.asarray(label, dtype=bool)
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def spearman(score: np.ndarray, actual: np.ndarray) -> float | None:
    a, b = rankdata(score), rankdata(actual)
    if np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def top_decile_capture(score: np.ndarray, actual: np.ndarray) -> float | None:
    """Share of the holdout's spend (negative net spend counts as none) made by the
    tenth of customers the score ranks highest (ties broken by position: stable)."""
    spend = np.clip(np.asarray(actual, dtype="float64"), 0.0, None)
    total = spend.sum()
    if total <= 0 or len(spend) < 10:
        return None
    top = np.argsort(-np.asarray(score, dtype="float64"), kind="stable")[: max(1, len(spend) // 10)]
    return float(spend[top].sum() / total)


Metric = Callable[[np.ndarray, np.ndarray], "float | None"]
METRICS: dict[str, tuple[str, Metric]] = {
    # name -> (the outcome it is computed against, function)
    "auc": ("bought", auc),
    "spearman": ("value", spearman),
    "top_decile_capture": ("value", top_decile_capture),
}


@dataclass(frozen=True)
class Lift:
    value: float | None
    baseline: float | None
    z: float | None  # lift over its bootstrap standard error

    def beats(self, min_z: float) -> bool:
        return self.z is not None and self.z >= min_z


def paired_lift(
    metric: Metric,
    score: np.ndarray,
    baseline: np.ndarray,
    actual: np.ndarray,
    rounds: int,
    seed: int,
    resample: int = 5_000,
) -> Lift:
    """The metric of ``score`` and of ``baseline`` on the same customers, and the lift's
    z from a paired bootstrap over customers (the same resamples for both). Beyond
    ``resample`` customers the resamples have that size and their spread is scaled by
    sqrt(resample / n): the standard error of these metrics falls as 1/sqrt(n), and a
    bootstrap of 50,000 customers cost 20 s for the same answer."""
    value, base = metric(score, actual), metric(baseline, actual)
    if value is None or base is None:
        return Lift(value, base, None)
    rng = np.random.default_rng(seed)
    n = len(actual)
    size = min(n, resample)
    diffs = []
    for _ in range(rounds):
        pick = rng.integers(0, n, size)
        a, b = metric(score[pick], actual[pick]), metric(baseline[pick], actual[pick])
        if a is not None and b is not None:
            diffs.append(a - b)
    spread = float(np.std(diffs, ddof=1)) * math.sqrt(size / n) if len(diffs) > 1 else math.inf
    z = (value - base) / spread if spread > 0 else (math.inf if value > base else 0.0)
    return Lift(value, base, float(z))

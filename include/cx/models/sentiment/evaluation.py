"""Held-out metrics, the decision rule tuned for them, the lexicon gate and rating conflicts.

One AUC everywhere: the ROC AUC of the score for positive vs. negative reviews (neutral
ones left out), the question the score answers ("is this customer happy or unhappy?").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cx.models.sentiment.config import LABELS

NEG, NEU, POS = (LABELS.index(lab) for lab in ("negative", "neutral", "positive"))


def label_codes(labels: np.ndarray | pd.Series) -> np.ndarray:
    """LABELS index of each label, -1 for anything else (integer codes: scikit-learn sorts
    object labels in Python, which took seconds per million reviews)."""
    return pd.Categorical(np.asarray(labels, dtype=object), categories=LABELS).codes.astype(np.int64)


def per_class_f1(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 of each of LABELS from integer codes (nan for a class absent from truth)."""
    out = np.full(len(LABELS), np.nan)
    for c in range(len(LABELS)):
        t, p = truth == c, pred == c
        if t.any():
            tp = float(np.sum(t & p))
            out[c] = 2 * tp / (t.sum() + p.sum())
    return out


def evaluate(y_true: np.ndarray, score: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """Macro-F1 over the labels present in truth, F1 per label, and the ROC AUC of the
    score for positive vs. negative reviews."""
    truth, pred = label_codes(y_true), label_codes(y_pred)
    f1 = per_class_f1(truth, pred)
    macro_f1 = float(np.nanmean(f1)) if np.isfinite(f1).any() else None
    polar = (truth == POS) | (truth == NEG)
    is_pos = truth[polar] == POS
    s = np.asarray(score, dtype="float64")[polar]
    auc = float(roc_auc_score(is_pos, s)) if 0 < is_pos.sum() < len(is_pos) else None
    out: dict[str, float | None] = {"macro_f1": macro_f1, "roc_auc": auc}
    out.update({f"f1_{lab}": (None if np.isnan(v) else float(v)) for lab, v in zip(LABELS, f1, strict=True)})
    return out


def tune_cuts(score: np.ndarray, y: np.ndarray, grid: int = 200) -> tuple[float, float]:
    """Cut points (low, high) of the score, low <= 0 <= high: negative below ``low``,
    positive from ``high``, neutral between; chosen on out-of-fold scores to maximise
    macro-F1 (the likeliest class maximises accuracy and under-calls the small neutral
    class). Candidates are score quantiles of each sign; ties go to the narrowest band.
    Counts come from sorted scores, so all (low, high) pairs are scored at once."""
    truth = label_codes(y)
    s = np.asarray(score, dtype="float64")
    q = np.linspace(0.0, 1.0, grid + 1)
    lows = np.unique(np.r_[0.0, np.quantile(s[s < 0], q)]) if (s < 0).any() else np.array([0.0])
    highs = np.unique(np.r_[0.0, np.quantile(s[s > 0], q)]) if (s > 0).any() else np.array([0.0])

    def below(mask: np.ndarray, cuts: np.ndarray) -> np.ndarray:  # rows of ``mask`` with score < cut
        return np.searchsorted(np.sort(s[mask]), cuts, side="left").astype(np.float64)

    everyone = np.ones(len(s), dtype=bool)
    n_low, n_high = below(everyone, lows)[:, None], below(everyone, highs)[None, :]
    f1 = []
    for c, in_c in ((NEG, truth == NEG), (NEU, truth == NEU), (POS, truth == POS)):
        total = float(in_c.sum())
        c_low, c_high = below(in_c, lows)[:, None], below(in_c, highs)[None, :]
        if c == NEG:
            tp, predicted = c_low + 0 * c_high, n_low + 0 * n_high
        elif c == NEU:
            tp, predicted = c_high - c_low, n_high - n_low
        else:
            tp, predicted = total - c_high + 0 * c_low, len(s) - n_high + 0 * n_low
        if total:
            f1.append(2 * tp / (total + predicted))
    macro = np.round(np.mean(f1, axis=0), 9)
    width = highs[None, :] - lows[:, None]
    best = np.lexsort((width.ravel(), -macro.ravel()))[0]  # highest macro-F1, then narrowest band
    i, j = np.unravel_index(best, macro.shape)
    return float(lows[i]), float(highs[j])


def decide(score: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """Labels of scores by the cut points of :func:`tune_cuts`."""
    s = np.asarray(score, dtype="float64")
    return np.asarray(LABELS, dtype=object)[np.where(s < cuts[0], NEG, np.where(s < cuts[1], NEU, POS))]


def rating_conflicts(rating: pd.Series, score: np.ndarray, threshold: float) -> np.ndarray:
    """Text strongly contradicting its rating: rating >= 4 with score < -t, or <= 2 with > t."""
    r = pd.to_numeric(rating, errors="coerce").to_numpy(dtype="float64")
    s = np.asarray(score, dtype="float64")
    with np.errstate(invalid="ignore"):
        return ((r >= 4) & (s < -threshold)) | ((r <= 2) & (s > threshold))


def _lexicon_wins(model: dict[str, float | None], lexicon: dict[str, float | None]) -> bool:
    """The lexicon is better on macro-F1 and at least as good on AUC."""
    f1_m, f1_l, auc_m, auc_l = (
        model.get("macro_f1"),
        lexicon.get("macro_f1"),
        model.get("roc_auc"),
        lexicon.get("roc_auc"),
    )
    if f1_m is None or f1_l is None or f1_l <= f1_m:
        return False
    return auc_m is None or auc_l is None or auc_l >= auc_m

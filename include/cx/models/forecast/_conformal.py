"""Conformal intervals around the published point forecast, from the rolling-origin
backtest residuals of that very forecast (after reconciliation), per series and
horizon band.

Errors are scaled by the square root of the forecast level (the spread of a sum of
many small independent sales grows like the square root of its level): a shop whose
volume doubles in the fourth quarter gets wider intervals in money but narrower ones
relative to the level, as its backtests show (log-ratio errors calibrated on a quiet
summer over-cover a busy autumn; bench/README.md). The floor of the
scale (a tenth of the series' mean) keeps days forecast at 0 from dominating. The quantile is the split-conformal one, ceil((n+1)q)/n
of the n backtest scores of the band, which covers at least q of exchangeable days.
Coverage, width and the weighted interval score reported in ``model_runs`` are
cross-fitted: each fold is scored with quantiles from the other folds only, so they
say how the intervals do on days they were not calibrated on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVELS = (0.8, 0.95)
# How the 80% normal interval is widened to 95% when a series has no backtest.
_Z = {0.8: 1.2816, 0.95: 1.96}


@dataclass(frozen=True)
class Residuals:
    """One series' backtest of its published forecast on open days."""

    fold: np.ndarray  # fold number per day
    h: np.ndarray  # lead in days (1 = the day after the origin)
    y: np.ndarray
    yhat: np.ndarray
    floor: float  # smallest level the errors are scaled by


def level_scale(yhat: np.ndarray, floor: float) -> np.ndarray:
    return np.sqrt(np.maximum(np.clip(yhat, 0, None), floor))


def band_of(h: np.ndarray, band_days: int) -> np.ndarray:
    return (np.asarray(h) - 1) // band_days


def _scores(r: Residuals) -> np.ndarray:
    return np.abs(r.y - r.yhat) / level_scale(r.yhat, r.floor)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """ceil((n+1) level)/n empirical quantile; the largest score when n is too small."""
    n = scores.size
    if n == 0:
        return float("nan")
    k = min(n, math.ceil((n + 1) * level))
    return float(np.sort(scores)[k - 1])


def quantiles(r: Residuals, band_days: int, mask: np.ndarray | None = None) -> dict[tuple[int, float], float]:
    """(band, level) -> score quantile. A band with fewer than 5 scores borrows all bands'."""
    keep = np.ones(r.y.size, bool) if mask is None else mask
    scores, bands = _scores(r)[keep], band_of(r.h[keep], band_days)
    out = {}
    for band in np.unique(band_of(r.h, band_days)):
        pick = scores[bands == band]
        pick = pick if pick.size >= 5 else scores
        for level in LEVELS:
            out[(int(band), level)] = conformal_quantile(pick, level)
    return out


def _bounds(yhat: np.ndarray, q: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    spread = q * level_scale(yhat, floor)
    return yhat - spread, yhat + spread


def interval_columns(
    yhat: np.ndarray, h: np.ndarray, q: dict[tuple[int, float], float], band_days: int, floor: float
) -> dict[str, np.ndarray]:
    """yhat_lower/upper (80%) and yhat_lower_95/upper_95, clipped at 0 and around yhat."""
    bands = band_of(h, band_days)
    last = max(b for b, _ in q)
    out = {}
    for level, suffix in ((0.8, ""), (0.95, "_95")):
        qs = np.array([q[(min(int(b), last), level)] for b in bands])
        lo, hi = _bounds(yhat, qs, floor)
        out[f"yhat_lower{suffix}"] = np.minimum(np.clip(lo, 0, None), yhat)
        out[f"yhat_upper{suffix}"] = np.maximum(hi, yhat)
    return out


def widen_to_95(frame: pd.DataFrame) -> pd.DataFrame:
    """A series without a backtest keeps its model's 80% interval; the 95% one is it
    widened as a normal interval would be (stated as such in the run's details)."""
    ratio = _Z[0.95] / _Z[0.8]
    out = frame.copy()
    out["yhat_lower_95"] = np.clip(out["yhat"] - ratio * (out["yhat"] - out["yhat_lower"]), 0, None)
    out["yhat_upper_95"] = out["yhat"] + ratio * (out["yhat_upper"] - out["yhat"])
    return out


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float) -> np.ndarray:
    return (hi - lo) + 2 / alpha * np.clip(lo - y, 0, None) + 2 / alpha * np.clip(y - hi, 0, None)


def weighted_interval_score(
    y: np.ndarray, yhat: np.ndarray, bands: dict[float, tuple[np.ndarray, np.ndarray]]
) -> float:
    """WIS (Bracher et al. 2021) of the median and the central intervals, mean over days."""
    total = 0.5 * np.abs(y - yhat)
    for level, (lo, hi) in bands.items():
        alpha = 1 - level
        total = total + alpha / 2 * interval_score(y, lo, hi, alpha)
    return float(np.mean(total / (len(bands) + 0.5)))


def cross_fitted(r: Residuals, band_days: int) -> dict[str, float]:
    """Coverage 80/95, mean 80% width and WIS of the conformal intervals, each fold
    scored with the quantiles of the other folds (nan with a single fold)."""
    folds = np.unique(r.fold)
    if folds.size < 2 or r.y.size == 0:
        return {}
    parts = []
    for k in folds:
        test = r.fold == k
        q = quantiles(r, band_days, ~test)
        cols = interval_columns(r.yhat[test], r.h[test], q, band_days, r.floor)
        parts.append((r.y[test], r.yhat[test], cols))
    y = np.concatenate([p[0] for p in parts])
    yhat = np.concatenate([p[1] for p in parts])
    cols = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
    return summarise(y, yhat, cols)


def summarise(y: np.ndarray, yhat: np.ndarray, cols: dict[str, np.ndarray]) -> dict[str, float]:
    """Coverage 80/95, mean widths and WIS of given intervals."""
    b80 = (cols["yhat_lower"], cols["yhat_upper"])
    b95 = (cols["yhat_lower_95"], cols["yhat_upper_95"])
    return {
        "coverage_80": float(np.mean((y >= b80[0]) & (y <= b80[1]))),
        "coverage_95": float(np.mean((y >= b95[0]) & (y <= b95[1]))),
        "width_80": float(np.mean(b80[1] - b80[0])),
        "width_95": float(np.mean(b95[1] - b95[0])),
        "wis": weighted_interval_score(y, yhat, {0.8: b80, 0.95: b95}),
        "days": int(y.size),
    }

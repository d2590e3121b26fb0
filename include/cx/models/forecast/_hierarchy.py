"""Coherent revenue: the total equals the sum of the categories on every day.

The hierarchy is total revenue over the top categories plus "other categories" (the
rest). Bottom-up sums the category forecasts; MinT-shrink (Wickramasuriya et al. 2019)
combines all base forecasts with the error covariance of the backtest, its off-diagonal
shrunk towards 0 (Schäfer & Strimmer 2005). Which one is published is chosen by the
backtest: each fold is reconciled with the covariance of the other folds and scored by
mean MASE over the hierarchy's series. Negative reconciled categories are cut to 0 and
the total re-summed, so the published numbers add up exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cx.models.forecast._config import ForecastConfig, SeriesForecast

TOTAL = "total"
METRIC = "revenue"


def shrunk_covariance(errors: np.ndarray) -> np.ndarray:
    """Covariance of the columns of ``errors`` (days x series), correlations shrunk to 0."""
    n, m = errors.shape
    centred = errors - errors.mean(axis=0)
    cov = centred.T @ centred / max(n - 1, 1)
    sd = np.sqrt(np.diag(cov))
    sd = np.where(sd > 0, sd, 1.0)
    x = centred / sd
    corr = x.T @ x / max(n - 1, 1)
    w = x[:, :, None] * x[:, None, :]
    var_corr = n / max((n - 1) ** 3, 1) * ((w - w.mean(axis=0)) ** 2).sum(axis=0)
    off = ~np.eye(m, dtype=bool)
    denom = float((corr[off] ** 2).sum())
    lam = 1.0 if denom == 0 else float(np.clip(var_corr[off].sum() / denom, 0.0, 1.0))
    shrunk = corr * (1 - lam)
    np.fill_diagonal(shrunk, 1.0)
    return shrunk * np.outer(sd, sd) + 1e-9 * np.eye(m)


def mint_projection(cov: np.ndarray) -> np.ndarray:
    """P with reconciled = P @ base, series ordered [total, bottom...]."""
    m = cov.shape[0]
    s = np.vstack([np.ones((1, m - 1)), np.eye(m - 1)])
    w_inv = np.linalg.pinv(cov)
    g = np.linalg.solve(s.T @ w_inv @ s, s.T @ w_inv)
    return s @ g


def reconcile(base: np.ndarray, method: str, cov: np.ndarray | None = None) -> np.ndarray:
    """``base`` days x [total, bottom...] -> coherent forecasts, categories >= 0."""
    bottom = base[:, 1:]
    if method == "mint_shrink":
        if cov is None:
            raise ValueError("mint_shrink needs the error covariance")
        bottom = (base @ mint_projection(cov).T)[:, 1:]
    bottom = np.clip(bottom, 0.0, None)
    return np.column_stack([bottom.sum(axis=1), bottom])


def _members(results: list[SeriesForecast]) -> list[int]:
    """Indices of total revenue then the categories, or [] when there is no hierarchy."""
    total = [i for i, r in enumerate(results) if r.series == TOTAL and r.metric == METRIC]
    cats = [i for i, r in enumerate(results) if r.series != TOTAL and r.metric == METRIC]
    return total + cats if total and cats else []


def _mase(y: np.ndarray, yhat: np.ndarray, is_open: np.ndarray, scale: np.ndarray, fold: np.ndarray) -> float:
    """Mean over folds and series of MAE on open days / the fold's naive scale."""
    err = np.abs(y - yhat) / scale
    values = [np.nanmean(err[(fold == k) & is_open, j]) for k in np.unique(fold) for j in range(y.shape[1])]
    return float(np.nanmean(values))


def reconcile_results(results: list[SeriesForecast], cfg: ForecastConfig) -> dict[str, Any]:
    """Reconcile the revenue hierarchy in place (forecasts and their backtest columns
    ``published``); returns what was done for the run's details."""
    for r in results:
        if r.fold_forecasts is not None:
            r.fold_forecasts["published"] = r.fold_forecasts[r.details.get("chosen", "naive")]
    members = _members(results)
    if not members:
        return {"method": "none", "reason": "no categories to reconcile"}
    part = [results[i] for i in members]
    folds = [r.fold_forecasts for r in part]
    comparable = all(f is not None for f in folds) and len({len(f) for f in folds}) == 1
    scores: dict[str, float] = {}
    cov = None
    if comparable:
        base = np.column_stack([f["published"].to_numpy() for f in folds])
        y = np.column_stack([f["y"].to_numpy() for f in folds])
        scale = np.column_stack([f["scale"].to_numpy() for f in folds])
        fold, is_open = folds[0]["fold"].to_numpy(), folds[0]["open"].to_numpy() & ~np.isnan(y).any(axis=1)
        errors = y - base
        out = {"bottom_up": reconcile(base, "bottom_up")}
        mint = np.empty_like(base)
        enough = True
        for k in np.unique(fold):
            train = is_open & (fold != k)
            if train.sum() <= len(members):
                enough = False
                break
            mint[fold == k] = reconcile(base[fold == k], "mint_shrink", shrunk_covariance(errors[train]))
        if enough:
            out["mint_shrink"] = mint
            cov = shrunk_covariance(errors[is_open])
        scores = {name: _mase(y, fc, is_open, scale, fold) for name, fc in out.items()}
        if cfg.reconciliation != "auto" and cfg.reconciliation in out:
            method = cfg.reconciliation
        else:
            method = min(out, key=lambda name: (scores[name], name != "bottom_up"))
        for j, f in enumerate(folds):
            f["published"] = out[method][:, j]
    else:
        method = "bottom_up"  # a member without a backtest: nothing to estimate a covariance on
    final = reconcile(np.column_stack([r.forecast["yhat"].to_numpy() for r in part]), method, cov)
    for j, r in enumerate(part):
        r.forecast = r.forecast.assign(yhat=final[:, j])
        r.details["reconciliation"] = method
    return {"method": method, "backtest_mase": {k: round(v, 4) for k, v in scores.items()}, "series": len(part)}

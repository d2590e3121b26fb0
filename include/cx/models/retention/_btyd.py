"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013), fitted by
maximum likelihood with SciPy.

Why not a library: ``lifetimes`` is archived and its fits fail to converge with
current SciPy; pymc-marketing's CLV module is maintained but brings PyMC and PyTensor
(a compiler toolchain at import) for two likelihoods of a few lines. Both fits run on
the distinct (x, t_x, T) summaries with their counts as weights, so a million
customers cost what a few tens of thousands of distinct histories cost.

Time is in weeks inside the fits (the parameters keep readable magnitudes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

WEEK = 7.0


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    converged: bool

    def _terms(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
        x, t_x, T = (np.asarray(v, dtype="float64") / s for v, s in ((x, 1.0), (t_x, WEEK), (T, WEEK)))
        # odds of having dropped out after the last purchase (zero without a repeat purchase)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds = (
                np.log(self.a)
                - np.log(np.maximum(self.b + x - 1, 1e-12))
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        odds = np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)
        return x, T, odds

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        _, _, odds = self._terms(x, t_x, T)
        return 1.0 / (1.0 + odds)

    def p_any(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, days: float) -> np.ndarray:
        """P(at least one purchase in the next ``days``): alive (a BG/NBD customer drops
        out only right after a purchase, so alive now means alive until the next one)
        times P(Poisson(lambda t) > 0) under lambda's posterior Gamma(r + x, alpha + T)."""
        x, T, odds = self._terms(x, t_x, T)
        t = days / WEEK
        none = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return (1.0 - none) / (1.0 + odds)

    def expected(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, days: float) -> np.ndarray:
        """Expected purchase days in the next ``days`` (the paper's equation 10)."""
        x, T, odds = self._terms(x, t_x, T)
        t = days / WEEK
        a = self.a if abs(self.a - 1.0) > 1e-6 else 1.0 + 1e-6  # removable singularity at a = 1
        r, alpha, b = self.r, self.alpha, self.b
        z = t / (alpha + T + t)
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        value = (a + b + x - 1) / (a - 1) * (1.0 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, z)) / (1.0 + odds)
        return np.clip(np.nan_to_num(value, nan=0.0, posinf=0.0), 0.0, None)


def _bgnbd_nll(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> float:
    r, alpha, a, b = np.exp(log_params)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    stay = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(
            x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    ll = head + np.logaddexp(stay, drop)
    return float(-(w * ll).sum() / w.sum())


def _compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how many times each occurs."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype("float64")


def fit_bgnbd(summary: pd.DataFrame) -> BgNbd:
    """Fit on the columns x (repeat purchase days), t_x and T (days since the first purchase)."""
    (x, t_x, T), w = _compress(
        summary["x"].to_numpy("float64"),
        summary["t_x"].to_numpy("float64") / WEEK,
        summary["T"].to_numpy("float64") / WEEK,
    )
    start = np.log([0.5, max(float(np.average(T, weights=w)), 1.0), 0.8, 2.5])
    best = None
    for method in ("L-BFGS-B", "Nelder-Mead"):
        result = minimize(
            _bgnbd_nll,
            start,
            args=(x, t_x, T, w),
            method=method,
            bounds=[(-9.0, 9.0)] * 4,
            options={"maxiter": 2000},
        )
        if best is None or (np.isfinite(result.fun) and result.fun < best.fun):
            best = result
        if result.success:
            break
    assert best is not None
    r, alpha, a, b = np.exp(best.x)
    return BgNbd(float(r), float(alpha), float(a), float(b), bool(best.success))


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    converged: bool

    @property
    def population_mean(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)

    def expected_value(self, frequency: np.ndarray, mean_value: np.ndarray) -> np.ndarray:
        """Expected spend per purchase day: the customer's own mean shrunk towards the
        population's, the more the fewer purchase days (the customers without a positive
        mean get the population's)."""
        n = np.asarray(frequency, dtype="float64")
        m = np.asarray(mean_value, dtype="float64")
        own = (self.gamma + n * m) * self.p / (self.p * n + self.q - 1.0)
        return np.where((n > 0) & (m > 0), own, self.population_mean)


def _gg_nll(log_params: np.ndarray, n: np.ndarray, m: np.ndarray, w: np.ndarray) -> float:
    p, q_minus_one, gamma = np.exp(log_params)
    q = 1.0 + q_minus_one  # q > 1: the mean spend exists
    px = p * n
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(n)
        - (px + q) * np.log(gamma + n * m)
    )
    return float(-(w * ll).sum() / w.sum())


def fit_gamma_gamma(summary: pd.DataFrame) -> GammaGamma:
    """Fit on frequency (purchase days) and mean_value (spend per purchase day) of the
    customers whose mean is positive."""
    keep = (summary["frequency"] > 0) & (summary["mean_value"] > 0)
    if int(keep.sum()) < 2:
        mean = float(summary.loc[keep, "mean_value"].mean()) if keep.any() else 1.0
        return GammaGamma(1.0, 2.0, mean, False)  # population mean only
    (n, m), w = _compress(
        summary.loc[keep, "frequency"].to_numpy("float64"),
        np.round(summary.loc[keep, "mean_value"].to_numpy("float64"), 2),
    )
    m = np.maximum(m, 0.01)
    start = np.log([2.0, 2.0, float(np.average(m, weights=w))])
    result = minimize(_gg_nll, start, args=(n, m, w), method="L-BFGS-B", bounds=[(-9.0, 12.0)] * 3)
    p, q_minus_one, gamma = np.exp(result.x)
    return GammaGamma(float(p), float(1.0 + q_minus_one), float(gamma), bool(result.success))


@dataclass(frozen=True)
class Btyd:
    """The pair, fitted at one cut; scores customers summarised at that cut."""

    bgnbd: BgNbd
    gamma_gamma: GammaGamma

    def score(self, summary: pd.DataFrame, days: float) -> pd.DataFrame:
        x, t_x, T = (summary[c].to_numpy("float64") for c in ("x", "t_x", "T"))
        orders = self.bgnbd.expected(x, t_x, T, days)
        per_order = self.gamma_gamma.expected_value(
            summary["frequency"].to_numpy("float64"), summary["mean_value"].to_numpy("float64")
        )
        return pd.DataFrame(
            {
                "p_active": self.bgnbd.p_any(x, t_x, T, days),
                "p_alive": self.bgnbd.p_alive(x, t_x, T),
                "expected_orders": orders,
                "expected_value": orders * per_order,
            },
            index=summary.index,
        )


def fit_btyd(summary: pd.DataFrame) -> Btyd:
    return Btyd(fit_bgnbd(summary), fit_gamma_gamma(summary))

"""Intermittent-demand methods on many product series at once (products x days).

Each method returns one rate per series: the expected units on an average open day.
The forecast spreads it over the week with the shop's weekday profile (a Monday sells
more than a Sunday for most products: their own history is too thin to say so).
Closed weekdays are dropped before fitting, so a demand interval counts trading days.

* Croston (1972): smoothed demand size over smoothed interval between demands;
* SBA (Syntetos & Boylan 2005): Croston times (1 - alpha/2), its bias removed;
* TSB (Teunter, Syntetos & Babai 2011): smoothed probability of a demand times its
  smoothed size; the probability decays every day without a sale (obsolescence);
* ADIDA (Nikolopoulos et al. 2011): exponential smoothing of weekly totals, spread back;
* moving average of the last 28 open days;
* the seasonal naive (last week repeated, the baseline) is in ``_products``.

Loops run over days, vectorised over series: 500 products x a year is milliseconds.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.1
BETA = 0.1
MA_DAYS = 28


def croston(y: np.ndarray, alpha: float = ALPHA, debias: bool = False) -> np.ndarray:
    """Starts from the history's mean demand size and mean interval (a first interval
    of 1 would bias the rate up for dozens of demands at alpha = 0.1)."""
    n, days = y.shape
    demands = (y > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.where(demands > 0, y.sum(axis=1) / demands, np.nan)
        interval = np.where(demands > 0, days / demands, np.nan)
    since = np.ones(n)
    for t in range(days):
        demand = y[:, t] > 0
        size = np.where(demand, size + alpha * (y[:, t] - size), size)
        interval = np.where(demand, interval + alpha * (since - interval), interval)
        since = np.where(demand, 1.0, since + 1.0)
    rate = np.nan_to_num(size / interval)
    return rate * (1 - alpha / 2) if debias else rate


def sba(y: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    return croston(y, alpha, debias=True)


def tsb(y: np.ndarray, alpha: float = ALPHA, beta: float = BETA) -> np.ndarray:
    n, days = y.shape
    prob = (y > 0).mean(axis=1) if days else np.zeros(n)  # start from the series' own rate
    size = np.full(n, np.nan)
    for t in range(days):
        demand = y[:, t] > 0
        prob = prob + beta * (demand - prob)
        size = np.where(demand, np.where(np.isnan(size), y[:, t], size + alpha * (y[:, t] - size)), size)
    return prob * np.nan_to_num(size)


def adida(y: np.ndarray, bucket: int, alpha: float = ALPHA) -> np.ndarray:
    """Smooth totals of ``bucket`` open days (a week), then back to a daily rate."""
    n, days = y.shape
    m = days // bucket
    if m == 0:
        return y.mean(axis=1) if days else np.zeros(n)
    totals = y[:, days - m * bucket :].reshape(n, m, bucket).sum(axis=2)
    level = totals[:, 0].astype("float64")
    for j in range(1, m):
        level = level + alpha * (totals[:, j] - level)
    return level / bucket


def moving_average(y: np.ndarray, window: int = MA_DAYS) -> np.ndarray:
    return y[:, -window:].mean(axis=1) if y.shape[1] else np.zeros(y.shape[0])


def rates(y_open: np.ndarray, open_weekdays: int) -> dict[str, np.ndarray]:
    """Every method's daily rate per series, fitted on the open days only."""
    return {
        "croston": croston(y_open),
        "sba": sba(y_open),
        "tsb": tsb(y_open),
        "adida": adida(y_open, max(1, open_weekdays)),
        "ma28": moving_average(y_open),
    }

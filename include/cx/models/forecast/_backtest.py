"""Seasonal-naive baseline and rolling-origin backtest scoring for daily sales series.

Closed days (weekdays the shop never trades) are forecast as 0 and excluded from
every error and coverage figure: scoring them would reward any model for knowing the
calendar rather than the demand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SEASON = 7


def open_mask(
    index: pd.DatetimeIndex, closed_weekdays: frozenset[int], closed_dates: frozenset[pd.Timestamp] = frozenset()
) -> np.ndarray:
    """True on days the shop trades: not a closed weekday and not a known closure date."""
    mask = ~np.isin(index.day_of_week, sorted(closed_weekdays))
    if closed_dates:
        mask &= ~index.normalize().isin(list(closed_dates))
    return mask


def future_index(history: pd.Series, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")


def seasonal_naive(
    history: pd.Series,
    horizon: int,
    closed_weekdays: frozenset[int],
    interval_width: float = 0.8,
    interval_window: int = 182,
    closed_dates: frozenset[pd.Timestamp] = frozenset(),
) -> pd.DataFrame:
    """Same weekday last week, repeated; intervals from the empirical errors of this very
    rule at the same lead (lag 7m for weeks-ahead m) over the recent window.

    ``closed_dates``: known closures, past (left out of the interval estimate: a closed
    day says nothing about demand) and future (forecast 0)."""
    index = future_index(history, horizon)
    values = history.to_numpy(dtype="float64")
    steps = np.arange(1, horizon + 1)
    # Step s reuses the value from the last observed week: position n - 7 + (s-1) % 7.
    source = len(values) - SEASON + (steps - 1) % SEASON
    yhat = np.where(source >= 0, values[np.clip(source, 0, None)], np.nan)
    if np.isnan(yhat).any():  # less than a week of history: use the mean
        yhat = np.where(np.isnan(yhat), np.nanmean(values) if len(values) else 0.0, yhat)

    alpha = (1.0 - interval_width) / 2.0
    recent = history.iloc[-interval_window:]
    is_open = open_mask(recent.index, closed_weekdays, closed_dates)
    lower, upper = np.empty(horizon), np.empty(horizon)
    quantiles: dict[int, tuple[float, float]] = {}
    for i, s in enumerate(steps):
        m = int(math.ceil(s / SEASON))
        if m not in quantiles:
            lag = SEASON * m
            resid = (recent - recent.shift(lag)).to_numpy()
            resid = resid[is_open & ~np.isnan(resid)]
            if resid.size < 5:  # too little history to estimate spread: use the level
                spread = float(np.nanstd(values)) if len(values) > 1 else 0.0
                quantiles[m] = (-1.2816 * spread, 1.2816 * spread)
            else:
                quantiles[m] = (float(np.quantile(resid, alpha)), float(np.quantile(resid, 1 - alpha)))
        lo, hi = quantiles[m]
        lower[i], upper[i] = yhat[i] + lo, yhat[i] + hi
    frame = pd.DataFrame({"ds": index, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper})
    return close_days(frame, closed_weekdays, closed_dates)


def mean_forecast(
    history: pd.Series,
    horizon: int,
    closed_weekdays: frozenset[int],
    interval_width: float = 0.8,
    closed_dates: frozenset[pd.Timestamp] = frozenset(),
) -> pd.DataFrame:
    """For very short histories: the mean of open days with empirical quantiles."""
    index = future_index(history, horizon)
    opened = history[open_mask(history.index, closed_weekdays, closed_dates)].to_numpy(dtype="float64")
    level = float(opened.mean()) if opened.size else 0.0
    alpha = (1.0 - interval_width) / 2.0
    lo = float(np.quantile(opened, alpha)) if opened.size else 0.0
    hi = float(np.quantile(opened, 1 - alpha)) if opened.size else 0.0
    frame = pd.DataFrame({"ds": index, "yhat": level, "yhat_lower": lo, "yhat_upper": hi})
    return close_days(frame, closed_weekdays, closed_dates)


def close_days(
    frame: pd.DataFrame, closed_weekdays: frozenset[int], closed_dates: frozenset[pd.Timestamp] = frozenset()
) -> pd.DataFrame:
    """Sales cannot be negative, a closed day sells nothing, and the point forecast lies
    inside its interval (empirical error quantiles of a trending series can all have
    one sign)."""
    frame = frame.copy()
    cols = ["yhat", "yhat_lower", "yhat_upper"]
    frame[cols] = frame[cols].clip(lower=0.0)
    frame["yhat_lower"] = np.minimum(frame["yhat_lower"], frame["yhat"])
    frame["yhat_upper"] = np.maximum(frame["yhat_upper"], frame["yhat"])
    closed = ~open_mask(pd.DatetimeIndex(frame["ds"]), closed_weekdays, closed_dates)
    frame.loc[closed, cols] = 0.0
    return frame


def naive_scale(train: pd.Series, closed_weekdays: frozenset[int]) -> float:
    """In-sample MAE of the 7-day naive rule on open days (the MASE denominator)."""
    diff = (train - train.shift(SEASON)).abs()
    keep = open_mask(train.index, closed_weekdays) & diff.notna().to_numpy()
    scale = float(diff[keep].mean()) if keep.any() else float("nan")
    return scale if scale > 0 else float("nan")


def score(forecast: pd.DataFrame, actual: pd.Series, scale: float, closed_weekdays: frozenset[int]) -> dict[str, float]:
    """MAE, MASE and interval coverage over the open days of the forecast window."""
    joined = forecast.set_index("ds").join(actual.rename("y"), how="inner")
    joined = joined.loc[open_mask(pd.DatetimeIndex(joined.index), closed_weekdays)]
    if joined.empty:
        return {"mae": float("nan"), "mase": float("nan"), "coverage": float("nan")}
    err = (joined["y"] - joined["yhat"]).abs()
    inside = (joined["y"] >= joined["yhat_lower"]) & (joined["y"] <= joined["yhat_upper"])
    mae = float(err.mean())
    return {"mae": mae, "mase": mae / scale if scale == scale else float("nan"), "coverage": float(inside.mean())}


def fold_origins(n_days: int, horizon: int, folds: int, min_train_days: int) -> list[int]:
    """Training lengths for rolling origins: the last ``folds`` windows of ``horizon``
    days, oldest first, each leaving at least ``min_train_days`` to train on."""
    lengths = [n_days - horizon * k for k in range(folds, 0, -1)]
    return [n for n in lengths if n >= min_train_days]

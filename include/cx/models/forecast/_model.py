"""The candidates: Prophet, the seasonal naive baseline and their blend."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from cx.models.forecast._backtest import close_days, future_index, open_mask, seasonal_naive
from cx.models.forecast._calendar import Calendar, holiday_closures
from cx.models.forecast._config import VERSION_BLEND, VERSION_NAIVE, VERSION_PROPHET, ForecastConfig
from cx.models.forecast._holidays import holidays_in
from cx.models.forecast._series import choose_scale, drop_outliers


def _quiet() -> None:
    """Silence per-fit chatter of cmdstanpy/prophet (it would flood the task log)."""
    import cmdstanpy

    cmdstanpy.disable_logging()  # configures its handler once, then mutes it
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)


def prophet_forecast(
    history: pd.Series, horizon: int, calendar: Calendar, closed_future: frozenset[pd.Timestamp], cfg: ForecastConfig
) -> tuple[pd.DataFrame, str]:
    """Prophet's forecast and the scale it was fitted on."""
    _quiet()
    from prophet import Prophet  # heavy import kept local to the stage

    trading = history.loc[open_mask(history.index, calendar.weekdays, calendar.closures)]
    scale = choose_scale(trading, cfg.log_min_positive_share)
    future = future_index(history, horizon)
    holidays = holidays_in(cfg.holiday_country, history.index[0], future[-1])
    fit_days = drop_outliers(trading, cfg.outlier_z, cfg.outlier_window, frozenset(holidays))
    span = (history.index[-1] - history.index[0]).days + 1
    model = Prophet(
        growth="linear",
        weekly_seasonality=span >= 14,
        yearly_seasonality=span >= cfg.yearly_min_days,
        daily_seasonality=False,
        # On log scale additive terms are multiplicative effects on sales.
        seasonality_mode="additive",
        holidays=pd.DataFrame({"holiday": list(holidays.values()), "ds": list(holidays)}) if holidays else None,
        interval_width=cfg.interval_width,
        changepoint_prior_scale=cfg.changepoint_prior_scale,
        seasonality_prior_scale=cfg.seasonality_prior_scale,
        holidays_prior_scale=cfg.holidays_prior_scale,
        uncertainty_samples=cfg.uncertainty_samples,
    )
    y = fit_days.clip(lower=0).to_numpy(dtype="float64")
    model.fit(pd.DataFrame({"ds": fit_days.index, "y": np.log1p(y) if scale == "log" else y}), seed=cfg.seed)
    np.random.seed(cfg.seed)  # interval sampling draws from numpy's global RNG
    pred = model.predict(pd.DataFrame({"ds": future}))
    # expm1 of the log-scale mean is the median forecast: the right point for MAE/MASE.
    back = np.expm1 if scale == "log" else (lambda v: v)
    out = pd.DataFrame({col: back(pred[col].to_numpy()) for col in ("yhat", "yhat_lower", "yhat_upper")})
    out.insert(0, "ds", pred["ds"])
    return close_days(out, calendar.weekdays, closed_future), scale


def blend_forecast(prophet: pd.DataFrame, naive: pd.DataFrame) -> pd.DataFrame:
    """Equal-weight average of point forecasts and bounds (errors of the two partly cancel)."""
    out = prophet[["ds"]].copy()
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        out[col] = 0.5 * (prophet[col].to_numpy() + naive[col].to_numpy())
    return out


def baseline_forecast(history: pd.Series, calendar: Calendar, cfg: ForecastConfig) -> pd.DataFrame:
    """The seasonal naive as the stage runs it: the last observed week repeated over the
    horizon, closed weekdays and holiday closures at 0."""
    closed_future = holiday_closures(history, cfg.horizon_days, calendar, cfg.holiday_country)
    return seasonal_naive(
        history,
        cfg.horizon_days,
        calendar.weekdays,
        cfg.interval_width,
        cfg.naive_interval_window,
        calendar.closures | closed_future,
    )


def _candidates(history: pd.Series, calendar: Calendar, cfg: ForecastConfig) -> tuple[dict[str, pd.DataFrame], str]:
    closed_future = holiday_closures(history, cfg.horizon_days, calendar, cfg.holiday_country)
    naive = baseline_forecast(history, calendar, cfg)
    prophet, scale = prophet_forecast(history, cfg.horizon_days, calendar, closed_future, cfg)
    return {"naive": naive, "prophet": prophet, "blend": blend_forecast(prophet, naive)}, scale


def version_of(candidate: str, scale: str = "log") -> str:
    return {"naive": VERSION_NAIVE, "prophet": VERSION_PROPHET[scale], "blend": VERSION_BLEND}[candidate]

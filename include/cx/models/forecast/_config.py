"""The stage's names, versions and hyperparameters, and one series' result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cx.config import Settings
from cx.models._stage import config_from_settings
from cx.models.forecast._holidays import parse_holiday_country

MODEL_NAME = "forecast"
VERSION_PROPHET = {"log": "prophet-log-v2", "linear": "prophet-linear-v2"}
VERSION_BLEND = "blend-prophet-snaive-v2"
VERSION_NAIVE = "seasonal-naive-v2"
VERSION_MEAN = "mean-v2"
CANDIDATES = ("naive", "prophet", "blend")
OUTPUT_COLUMNS = [
    "series",
    "metric",
    "ds",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "yhat_lower_95",
    "yhat_upper_95",
    "model_version",
]
OTHER_CATEGORIES = "other categories"  # revenue of the categories not forecast on their own
RECONCILIATIONS = ("bottom_up", "mint_shrink")

# The fields that mirror cx.config.Settings.
_SETTINGS_FIELDS = {
    "horizon_days": "forecast_horizon_days",
    "top_categories": "forecast_top_categories",
    "top_products": "forecast_top_products",
    "product_revenue_share": "forecast_product_revenue_share",
    "holiday_country": "holiday_country",
    "seed": "seed",
}


@dataclass(frozen=True)
class ForecastConfig:
    horizon_days: int = 28
    top_categories: int = 5
    top_products: int = 500
    product_revenue_share: float = 1.0
    holiday_country: str = "GB"  # ISO 3166 code, optionally with subdivision ("GB-ENG"); "" = none
    seed: int = 42
    folds: int = 3
    interval_width: float = 0.8
    min_prophet_days: int = 21  # below: seasonal naive (>= 7 days) or mean
    min_train_days: int = 28  # shortest training window of a backtest fold
    yearly_min_days: int = 730  # one cycle cannot separate yearly season from trend
    closed_weekday_max_share: float = 0.05  # weekday trading on <= 5% of its dates = closed
    log_min_positive_share: float = 0.9  # share of trading days with sales > 0 for the log scale
    outlier_z: float = 4.0
    outlier_window: int = 15
    changepoint_prior_scale: float = 0.05
    seasonality_prior_scale: float = 5.0
    holidays_prior_scale: float = 5.0
    uncertainty_samples: int = 300
    naive_interval_window: int = 182
    n_jobs: int = 2
    chart_history_days: int = 120
    band_days: int = 14  # conformal quantiles per horizon band of this many days
    coverage_tolerance: float = 0.05  # the gate: backtest coverage within this of nominal
    reconciliation: str = "auto"  # auto (chosen by backtest), bottom_up or mint_shrink

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"forecast horizon must be at least 1 day, got {self.horizon_days}")
        if not 0 < self.interval_width < 1:
            raise ValueError(f"interval_width must be in (0, 1), got {self.interval_width}")
        if self.reconciliation not in ("auto", *RECONCILIATIONS):
            raise ValueError(f"reconciliation must be auto, bottom_up or mint_shrink, got {self.reconciliation!r}")
        parse_holiday_country(self.holiday_country)  # fail on a bad country before any fitting

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ForecastConfig:
        n_jobs = max(1, min(2, os.cpu_count() or 1))
        return config_from_settings(cls, settings, _SETTINGS_FIELDS, **{"n_jobs": n_jobs, **overrides})


@dataclass
class SeriesForecast:
    series: str
    metric: str
    forecast: pd.DataFrame  # ds, yhat, yhat_lower, yhat_upper
    model_version: str
    backtest: dict[str, dict[str, float]]  # candidate -> mean mae/mase/coverage
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)  # wall and CPU seconds: logged, never published
    # Backtest windows: fold, ds, h, y, open, scale, one column per candidate, naive bounds.
    fold_forecasts: pd.DataFrame | None = None
    # Cross-fitted coverage/width/WIS of the published intervals and of the naive's.
    intervals: dict[str, Any] = field(default_factory=dict)

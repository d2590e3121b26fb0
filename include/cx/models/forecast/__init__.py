"""Daily sales forecasts: Prophet gated by a rolling-origin backtest against a
seasonal-naive baseline.

Per series (total revenue, total orders, revenue of the top-K categories):

* the history is reindexed to every calendar day up to as_of (absent days are 0);
* the shop calendar is read off the total series: weekdays on which the shop never
  trades are closed (forecast 0, left out of fitting and scoring); a usual trading
  day without any sale is a closure (left out of fitting: it says nothing about
  demand); a public holiday (``CX_HOLIDAY_COUNTRY``, e.g. ``GB`` or ``GB-ENG``) on
  which the shop was closed every time it fell on a trading day in the history is
  forecast as closed when it comes round again;
* Prophet is fitted on log1p(y) when the series is (almost) always positive on trading
  days, so effects are multiplicative and forecasts never negative; a sparse series
  (many zero days, e.g. a small category) is fitted on its own scale. Weekly
  seasonality, yearly only with two years of history, country holidays, and extreme
  days (robust z-score on log scale) dropped;
* candidates Prophet, seasonal naive and their average are backtested over rolling
  origins; the best of Prophet/blend is published only if its mean MASE beats the
  seasonal naive, otherwise the baseline is published and the reason says so;
* revenue is made coherent: total = top categories + "other categories" on every day,
  bottom-up or MinT-shrink, whichever the backtest prefers (``_hierarchy``);
* the published intervals (80%, 95%) are conformal, from the backtest errors of the
  published, reconciled forecast per horizon band (``_conformal``, ``_calibrate``);
* daily unit demand of the top products by revenue with intermittent-demand methods
  chosen per product against the seasonal naive (``_demand``, ``_products``).

Modules (private; import from this package): ``_config`` names, versions and
:class:`ForecastConfig`; ``_holidays`` and ``_calendar`` the shop calendar; ``_series``
the daily series; ``_backtest`` the seasonal naive, scoring and the folds; ``_model``
Prophet and the blend; ``_core`` backtest, choice and forecast per series; ``_charts``
the charts; ``_hierarchy``, ``_conformal``/``_calibrate``, ``_demand``/``_products`` as
above; ``_stage`` the stage.
"""

from __future__ import annotations

from cx.models.forecast._backtest import mean_forecast, naive_scale, score, seasonal_naive
from cx.models.forecast._calendar import Calendar, closed_weekdays, holiday_closures, shop_calendar
from cx.models.forecast._calibrate import calibrate
from cx.models.forecast._charts import chart_name, save_chart, write_charts
from cx.models.forecast._config import (
    CANDIDATES,
    MODEL_NAME,
    OTHER_CATEGORIES,
    OUTPUT_COLUMNS,
    VERSION_BLEND,
    VERSION_MEAN,
    VERSION_NAIVE,
    VERSION_PROPHET,
    ForecastConfig,
    SeriesForecast,
)
from cx.models.forecast._core import (
    choose_model,
    forecast_all,
    forecast_frame,
    forecast_series,
    publishable,
    run_metrics,
)
from cx.models.forecast._hierarchy import reconcile, reconcile_results, shrunk_covariance
from cx.models.forecast._holidays import holidays_in, parse_holiday_country
from cx.models.forecast._model import baseline_forecast, blend_forecast, prophet_forecast, version_of
from cx.models.forecast._products import PRODUCT_COLUMNS, ProductConfig, forecast_products
from cx.models.forecast._series import build_series, choose_scale, drop_outliers
from cx.models.forecast._stage import run

__all__ = [
    "CANDIDATES",
    "Calendar",
    "ForecastConfig",
    "MODEL_NAME",
    "OTHER_CATEGORIES",
    "OUTPUT_COLUMNS",
    "PRODUCT_COLUMNS",
    "ProductConfig",
    "SeriesForecast",
    "VERSION_BLEND",
    "VERSION_MEAN",
    "VERSION_NAIVE",
    "VERSION_PROPHET",
    "baseline_forecast",
    "blend_forecast",
    "build_series",
    "calibrate",
    "chart_name",
    "choose_model",
    "choose_scale",
    "closed_weekdays",
    "drop_outliers",
    "forecast_all",
    "forecast_frame",
    "forecast_products",
    "forecast_series",
    "holiday_closures",
    "holidays_in",
    "mean_forecast",
    "naive_scale",
    "parse_holiday_country",
    "prophet_forecast",
    "publishable",
    "reconcile",
    "reconcile_results",
    "run",
    "run_metrics",
    "save_chart",
    "score",
    "seasonal_naive",
    "shrunk_covariance",
    "shop_calendar",
    "version_of",
    "write_charts",
]

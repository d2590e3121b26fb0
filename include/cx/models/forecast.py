"""Daily sales forecasts: Prophet on log scale, gated by a rolling-origin backtest
against a seasonal-naive baseline.

Per series (total revenue, total orders, revenue of the top-K categories):

* the history is reindexed to every calendar day up to as_of (absent days are 0);
  weekdays on which the shop never trades are closed: forecast 0 there and left out of
  fitting and scoring;
* Prophet is fitted on log1p(y) (multiplicative effects, no negative forecasts) with
  weekly seasonality, yearly only with two years of history, country holidays, and
  extreme days (robust z-score) dropped;
* candidates Prophet, seasonal naive and their average are backtested over rolling
  origins; the best of Prophet/blend is published only if its mean MASE beats the
  seasonal naive, otherwise the baseline is published.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from cx.config import Settings, load_settings
from cx.model_runs import Metric, metrics_frame
from cx.models.forecast_backtest import (
    close_days,
    fold_origins,
    future_index,
    mean_forecast,
    naive_scale,
    open_mask,
    score,
    seasonal_naive,
)
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "forecast"
VERSION_PROPHET = "prophet-log-v1"
VERSION_BLEND = "blend-prophet-snaive-v1"
VERSION_NAIVE = "seasonal-naive-v1"
VERSION_MEAN = "mean-v1"
CANDIDATE_VERSIONS = {"prophet": VERSION_PROPHET, "blend": VERSION_BLEND, "naive": VERSION_NAIVE}
OUTPUT_COLUMNS = ["series", "metric", "ds", "yhat", "yhat_lower", "yhat_upper", "model_version"]


@dataclass(frozen=True)
class ForecastConfig:
    horizon_days: int = 28
    top_categories: int = 5
    holiday_country: str = "GB"
    seed: int = 42
    folds: int = 3
    interval_width: float = 0.8
    min_prophet_days: int = 21  # below: seasonal naive (>= 7 days) or mean
    min_train_days: int = 28  # shortest training window of a backtest fold
    yearly_min_days: int = 730  # one cycle cannot separate yearly season from trend
    closed_weekday_max_share: float = 0.05  # weekday trading on <= 5% of its dates = closed
    outlier_z: float = 4.0
    outlier_window: int = 15
    changepoint_prior_scale: float = 0.05
    seasonality_prior_scale: float = 5.0
    holidays_prior_scale: float = 5.0
    uncertainty_samples: int = 300
    naive_interval_window: int = 182
    n_jobs: int = 2
    chart_history_days: int = 120

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ForecastConfig:
        base = cls(
            horizon_days=settings.forecast_horizon_days,
            top_categories=settings.forecast_top_categories,
            holiday_country=settings.holiday_country,
            seed=settings.seed,
        )
        return replace(base, **overrides)


@dataclass
class SeriesForecast:
    series: str
    metric: str
    forecast: pd.DataFrame  # ds, yhat, yhat_lower, yhat_upper
    model_version: str
    backtest: dict[str, dict[str, float]]  # candidate -> mean mae/mase/coverage
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- series


def build_series(sales: pd.DataFrame, as_of: date, top_categories: int) -> dict[tuple[str, str], pd.Series]:
    """(series, metric) -> daily values from the first sale to as_of, zeros filled."""
    sales = sales.assign(ds=pd.to_datetime(sales["ds"]))
    sales = sales.loc[sales["ds"] <= pd.Timestamp(as_of)]
    if sales.empty:
        return {}
    index = pd.date_range(sales["ds"].min(), pd.Timestamp(as_of), freq="D")
    total = sales.loc[sales["series"] == "total"]
    if total.empty:  # the mart should carry 'total'; derive it rather than fail
        total = sales.groupby("ds", as_index=False)[["revenue", "orders"]].sum()

    def daily(frame: pd.DataFrame, column: str) -> pd.Series:
        values = frame.groupby("ds")[column].sum().astype("float64")
        return values.reindex(index, fill_value=0.0)

    out = {("total", "revenue"): daily(total, "revenue"), ("total", "orders"): daily(total, "orders")}
    cats = sales.loc[sales["series"] != "total"]
    recent = cats.loc[cats["ds"] > pd.Timestamp(as_of) - pd.Timedelta(days=365)]
    top = recent.groupby("series")["revenue"].sum().sort_values(ascending=False).head(top_categories)
    for name in top.index:
        out[(str(name), "revenue")] = daily(cats.loc[cats["series"] == name], "revenue")
    return out


def closed_weekdays(total: pd.Series, max_share: float, min_weeks: int = 3) -> frozenset[int]:
    """Weekdays on which the shop (almost) never trades, judged on the total series."""
    traded = (total > 0).groupby(total.index.day_of_week).agg(["mean", "size"])
    closed = traded.loc[(traded["size"] >= min_weeks) & (traded["mean"] <= max_share)].index
    return frozenset(int(d) for d in closed)


def drop_outliers(y: pd.Series, z_max: float, window: int) -> pd.Series:
    """Drop days far from the local median on log scale (robust z of the residual):
    stock-take closures, one-off bulk orders and data glitches would bend the fit."""
    x = np.log1p(y.clip(lower=0))
    resid = x - x.rolling(window, center=True, min_periods=max(3, window // 3)).median()
    mad = float((resid - resid.median()).abs().median())
    if not mad > 0:
        return y
    z = 0.6745 * (resid - resid.median()) / mad
    return y.loc[~(z.abs() > z_max)]


# ---------------------------------------------------------------------------- prophet


def _quiet() -> None:
    """Silence per-fit chatter of cmdstanpy/prophet (it would flood the task log)."""
    import cmdstanpy

    cmdstanpy.disable_logging()  # configures its handler once, then mutes it
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)


def prophet_forecast(history: pd.Series, horizon: int, closed: frozenset[int], cfg: ForecastConfig) -> pd.DataFrame:
    _quiet()
    from prophet import Prophet  # heavy import kept local to the stage

    fit_days = history.loc[open_mask(history.index, closed)]
    fit_days = drop_outliers(fit_days, cfg.outlier_z, cfg.outlier_window)
    span = (history.index[-1] - history.index[0]).days + 1
    model = Prophet(
        growth="linear",
        weekly_seasonality=span >= 14,
        yearly_seasonality=span >= cfg.yearly_min_days,
        daily_seasonality=False,
        seasonality_mode="additive",  # additive on log scale = multiplicative on sales
        interval_width=cfg.interval_width,
        changepoint_prior_scale=cfg.changepoint_prior_scale,
        seasonality_prior_scale=cfg.seasonality_prior_scale,
        holidays_prior_scale=cfg.holidays_prior_scale,
        uncertainty_samples=cfg.uncertainty_samples,
    )
    if cfg.holiday_country:
        try:
            model.add_country_holidays(country_name=cfg.holiday_country)
        except (AttributeError, KeyError, NotImplementedError, ValueError):
            log.warning("no holiday calendar for %r; fitting without holidays", cfg.holiday_country)
    frame = pd.DataFrame({"ds": fit_days.index, "y": np.log1p(fit_days.clip(lower=0).to_numpy())})
    model.fit(frame)
    np.random.seed(cfg.seed)  # interval sampling draws from numpy's global RNG
    pred = model.predict(pd.DataFrame({"ds": future_index(history, horizon)}))
    out = pd.DataFrame(
        {
            "ds": pred["ds"],
            "yhat": np.expm1(pred["yhat"].to_numpy()),
            "yhat_lower": np.expm1(pred["yhat_lower"].to_numpy()),
            "yhat_upper": np.expm1(pred["yhat_upper"].to_numpy()),
        }
    )
    return close_days(out, closed)


def blend_forecast(prophet: pd.DataFrame, naive: pd.DataFrame) -> pd.DataFrame:
    """Equal-weight average of point forecasts and bounds (errors of the two partly cancel)."""
    out = prophet[["ds"]].copy()
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        out[col] = 0.5 * (prophet[col].to_numpy() + naive[col].to_numpy())
    return out


def _candidates(history: pd.Series, horizon: int, closed: frozenset[int], cfg: ForecastConfig) -> dict[str, pd.DataFrame]:
    naive = seasonal_naive(history, horizon, closed, cfg.interval_width, cfg.naive_interval_window)
    prophet = prophet_forecast(history, horizon, closed, cfg)
    return {"naive": naive, "prophet": prophet, "blend": blend_forecast(prophet, naive)}


# ---------------------------------------------------------------------------- core


def choose_model(backtest: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The best challenger by mean backtest MASE if it is strictly lower than the
    seasonal naive's; otherwise the baseline."""
    challengers = [name for name in ("prophet", "blend") if name in backtest]
    if not challengers or "naive" not in backtest:
        return "naive", "no challenger was backtested: seasonal naive"
    best = min(challengers, key=lambda name: backtest[name]["mase"])
    if backtest[best]["mase"] < backtest["naive"]["mase"]:
        return best, f"{best} beats seasonal naive on backtest MASE"
    return "naive", "seasonal naive not beaten on backtest MASE"


def forecast_series(series: str, metric: str, history: pd.Series, closed: frozenset[int], cfg: ForecastConfig) -> SeriesForecast:
    """Backtest, choose and forecast one series (pure; runs in a worker process)."""
    horizon = cfg.horizon_days
    n_days = len(history)
    if n_days < 7:
        return SeriesForecast(series, metric, mean_forecast(history, horizon, closed, cfg.interval_width),
                              VERSION_MEAN, {}, f"short history ({n_days} days): mean of open days")
    if n_days < cfg.min_prophet_days:
        naive = seasonal_naive(history, horizon, closed, cfg.interval_width, cfg.naive_interval_window)
        return SeriesForecast(series, metric, naive, VERSION_NAIVE, {},
                              f"short history ({n_days} days): seasonal naive")

    per_fold: dict[str, list[dict[str, float]]] = {"naive": [], "prophet": [], "blend": []}
    for length in fold_origins(n_days, horizon, cfg.folds, cfg.min_train_days):
        train, actual = history.iloc[:length], history.iloc[length : length + horizon]
        scale = naive_scale(train, closed)
        for name, frame in _candidates(train, horizon, closed, cfg).items():
            per_fold[name].append(score(frame, actual, scale, closed))
    backtest = {
        name: {key: float(np.nanmean([f[key] for f in folds])) for key in ("mae", "mase", "coverage")}
        for name, folds in per_fold.items()
        if folds and not all(np.isnan(f["mase"]) for f in folds)
    }
    backtest = {name: vals for name, vals in backtest.items() if not np.isnan(vals["mase"])}
    if "naive" not in backtest:
        naive = seasonal_naive(history, horizon, closed, cfg.interval_width, cfg.naive_interval_window)
        return SeriesForecast(series, metric, naive, VERSION_NAIVE, {},
                              "history too short or flat for a backtest: seasonal naive")

    final = _candidates(history, horizon, closed, cfg)
    chosen, reason = choose_model(backtest)
    return SeriesForecast(series, metric, final[chosen], CANDIDATE_VERSIONS[chosen], backtest, reason,
                          {"folds": len(per_fold["naive"]), "chosen": chosen})


def forecast_all(
    series: dict[tuple[str, str], pd.Series], closed: frozenset[int], cfg: ForecastConfig
) -> list[SeriesForecast]:
    """Fit every series, in parallel across ``cfg.n_jobs`` processes (bounded)."""
    tasks = [(name, metric, values) for (name, metric), values in series.items()]
    if cfg.n_jobs <= 1 or len(tasks) <= 1:
        return [forecast_series(n, m, v, closed, cfg) for n, m, v in tasks]
    from joblib import Parallel, delayed

    return list(
        Parallel(n_jobs=min(cfg.n_jobs, len(tasks)), backend="loky")(
            delayed(forecast_series)(n, m, v, closed, cfg) for n, m, v in tasks
        )
    )


def forecast_frame(results: list[SeriesForecast]) -> pd.DataFrame:
    frames = [r.forecast.assign(series=r.series, metric=r.metric, model_version=r.model_version) for r in results]
    out = pd.concat(frames, ignore_index=True)
    out["ds"] = pd.to_datetime(out["ds"]).dt.date
    return out[OUTPUT_COLUMNS]


def run_metrics(result: SeriesForecast, interval_width: float) -> list[Metric]:
    """model_runs rows: the published model's backtest means next to seasonal naive."""
    key = f"{result.metric}:{result.series}"
    chosen = result.details.get("chosen", "naive")
    published = result.backtest.get(chosen, {})
    naive = result.backtest.get("naive", {})
    details = {"reason": result.reason, "backtest": result.backtest, **result.details}
    beats = bool(published) and chosen != "naive"
    rows = [
        Metric(f"mase:{key}", published.get("mase"), naive.get("mase"), beats, details),
        Metric(f"mae:{key}", published.get("mae"), naive.get("mae"), beats),
    ]
    coverage = published.get("coverage")
    rows.append(Metric(f"coverage:{key}", coverage, naive.get("coverage"),
                       None if coverage is None else abs(coverage - interval_width) <= 0.15))
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "series"


def save_chart(result: SeriesForecast, history: pd.Series, directory: Any, tail_days: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_safe(result.series)}_{result.metric}.png"
    tail = history.iloc[-tail_days:]
    fc = result.forecast
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(tail.index, tail.to_numpy(), color="#444444", lw=1, label="history")
    ax.plot(pd.to_datetime(fc["ds"]), fc["yhat"], color="#1f77b4", lw=1.5, label=result.model_version)
    ax.fill_between(pd.to_datetime(fc["ds"]), fc["yhat_lower"], fc["yhat_upper"], color="#1f77b4", alpha=0.2,
                    label="80% interval")
    ax.set_title(f"{result.series} {result.metric}: {result.reason}")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- I/O


def run(as_of: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    cfg = ForecastConfig.from_settings(settings)
    started = time.monotonic()
    with connect(settings) as con:
        if not table_exists(con, "fct_daily_sales", "marts"):
            log.info("forecast skipped: marts.fct_daily_sales missing")
            return {"skipped": "marts.fct_daily_sales missing"}
        sales = read_df(
            con, "select ds, series, revenue, orders from marts.fct_daily_sales where ds <= ?", [as_of]
        )
    series = build_series(sales, as_of, cfg.top_categories)
    if not series:
        log.info("forecast skipped: no daily sales up to %s", as_of)
        return {"skipped": f"no daily sales up to {as_of}"}
    closed = closed_weekdays(series[("total", "revenue")], cfg.closed_weekday_max_share)
    results = forecast_all(series, closed, cfg)

    chart_dir = settings.charts_dir / str(as_of)
    for result in results:
        save_chart(result, series[(result.series, result.metric)], chart_dir, cfg.chart_history_days)

    forecasts = forecast_frame(results)
    # One write for all series keeps the day atomic; each row carries its own version.
    runs = pd.concat(
        [metrics_frame(MODEL_NAME, r.model_version, run_metrics(r, cfg.interval_width)) for r in results],
        ignore_index=True,
    ).drop(columns=["model"])
    with connect(settings) as con:
        written = replace_partition(con, "sales_forecast", forecasts, as_of)
        replace_partition(con, "model_runs", runs, as_of, scope={"model": MODEL_NAME})
    summary = {
        "rows": written,
        "series": len(results),
        "closed_weekdays": sorted(closed),
        "published": {f"{r.series}:{r.metric}": r.model_version for r in results},
        "mase": {
            f"{r.series}:{r.metric}": round(r.backtest[r.details["chosen"]]["mase"], 3)
            for r in results
            if r.backtest and "chosen" in r.details
        },
        "charts": str(chart_dir),
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info("forecast %s", summary)
    return summary

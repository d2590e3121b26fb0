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
  seasonal naive, otherwise the baseline is published and the reason says so.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx.config import Settings, load_settings
from cx.model_runs import OUTPUT_SCHEMA, Metric, metrics_frame
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
from cx.row_order import sort_rows
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "forecast"
VERSION_PROPHET = {"log": "prophet-log-v2", "linear": "prophet-linear-v2"}
VERSION_BLEND = "blend-prophet-snaive-v2"
VERSION_NAIVE = "seasonal-naive-v2"
VERSION_MEAN = "mean-v2"
CANDIDATES = ("naive", "prophet", "blend")
OUTPUT_COLUMNS = ["series", "metric", "ds", "yhat", "yhat_lower", "yhat_upper", "model_version"]


@dataclass(frozen=True)
class ForecastConfig:
    horizon_days: int = 28
    top_categories: int = 5
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

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"forecast horizon must be at least 1 day, got {self.horizon_days}")
        if not 0 < self.interval_width < 1:
            raise ValueError(f"interval_width must be in (0, 1), got {self.interval_width}")
        parse_holiday_country(self.holiday_country)  # fail on a bad country before any fitting

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ForecastConfig:
        base = dict(
            horizon_days=settings.forecast_horizon_days,
            top_categories=settings.forecast_top_categories,
            holiday_country=settings.holiday_country,
            seed=settings.seed,
            n_jobs=max(1, min(2, os.cpu_count() or 1)),
        )
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class Calendar:
    """When the shop trades, as read off its total sales (see :func:`shop_calendar`)."""

    weekdays: frozenset[int] = frozenset()  # never trades on these (0 = Monday)
    closures: frozenset[pd.Timestamp] = frozenset()  # usual trading days without any sale

    def up_to(self, day: pd.Timestamp) -> Calendar:
        """What was known on ``day`` (backtests must not see later closures)."""
        return replace(self, closures=frozenset(d for d in self.closures if d <= day))


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


# ---------------------------------------------------------------------------- calendar


def parse_holiday_country(spec: str) -> tuple[str, str | None] | None:
    """'GB' -> ('GB', None); 'GB-ENG' -> ('GB', 'ENG'); '' -> None. Unknown codes raise
    a ValueError naming the setting (a typo must not silently drop all holidays)."""
    spec = (spec or "").strip()
    if not spec:
        return None
    country, _, subdiv = spec.partition("-")
    try:
        _holidays_between(country.upper(), subdiv.upper() or None, 2000, 2000)
    except (NotImplementedError, KeyError, AttributeError) as exc:
        from cx.errors import ConfigurationError  # a ValueError: deterministic, not retried

        raise ConfigurationError(
            f"CX_HOLIDAY_COUNTRY={spec!r} is not known to the holidays package ({exc}); use an ISO code "
            "such as GB, DE or US, optionally with a subdivision such as GB-ENG, or leave it empty"
        ) from None
    return country.upper(), subdiv.upper() or None


@functools.lru_cache(maxsize=64)
def _holidays_between(country: str, subdiv: str | None, first_year: int, last_year: int) -> dict[pd.Timestamp, str]:
    import holidays  # ships with prophet; offline

    days = holidays.country_holidays(country, subdiv=subdiv, years=range(first_year, last_year + 1))
    # "Christmas Day (observed)" is the same closure as "Christmas Day" moved off a weekend.
    return {pd.Timestamp(d): re.sub(r"\s*\(observed.*\)$", "", name) for d, name in days.items()}


def holidays_in(spec: str, start: pd.Timestamp, end: pd.Timestamp) -> dict[pd.Timestamp, str]:
    parsed = parse_holiday_country(spec)
    if parsed is None:
        return {}
    table = _holidays_between(parsed[0], parsed[1], start.year, end.year)
    return {d: name for d, name in table.items() if start <= d <= end}


def closed_weekdays(total: pd.Series, max_share: float, min_weeks: int = 3) -> frozenset[int]:
    """Weekdays on which the shop (almost) never trades, judged on the total series."""
    traded = (total > 0).groupby(total.index.day_of_week).agg(["mean", "size"])
    closed = traded.loc[(traded["size"] >= min_weeks) & (traded["mean"] <= max_share)].index
    return frozenset(int(d) for d in closed)


def shop_calendar(total: pd.Series, cfg: ForecastConfig) -> Calendar:
    weekdays = closed_weekdays(total, cfg.closed_weekday_max_share)
    trading = open_mask(total.index, weekdays)
    closures = frozenset(pd.Timestamp(d) for d in total.index[trading & (total.to_numpy() == 0)])
    return Calendar(weekdays, closures)


def holiday_closures(history: pd.Series, horizon: int, calendar: Calendar, country: str) -> frozenset[pd.Timestamp]:
    """Future holidays the shop will be closed on: every past occurrence of that holiday
    on a trading weekday was a closure (a holiday that fell on a closed weekday says
    nothing either way)."""
    future = future_index(history, horizon)
    upcoming = holidays_in(country, future[0], future[-1])
    if not upcoming:
        return frozenset()
    evidence: dict[str, list[bool]] = {}
    for day, name in holidays_in(country, history.index[0], history.index[-1]).items():
        if day.day_of_week not in calendar.weekdays:
            evidence.setdefault(name, []).append(day in calendar.closures)
    closed_names = {name for name, seen in evidence.items() if seen and all(seen)}
    return frozenset(day for day, name in upcoming.items() if name in closed_names)


# ---------------------------------------------------------------------------- series


def build_series(sales: pd.DataFrame, as_of: date, top_categories: int) -> dict[tuple[str, str], pd.Series]:
    """(series, metric) -> daily values from the first sale to as_of, zeros filled."""
    sales = sort_rows(sales.assign(ds=pd.to_datetime(sales["ds"])), ["ds", "series"])  # sums in one order
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
    top = recent.groupby("series")["revenue"].sum().sort_values(ascending=False, kind="stable").head(top_categories)
    for name in top.index:
        out[(str(name), "revenue")] = daily(cats.loc[cats["series"] == name], "revenue")
    return out


def drop_outliers(y: pd.Series, z_max: float, window: int, keep: frozenset[pd.Timestamp] = frozenset()) -> pd.Series:
    """Drop days far from the local median on log scale (robust z of the residual):
    one-off bulk orders, mass returns and data glitches would bend the fit. Days in
    ``keep`` (holidays) stay: their dips and peaks are what the holiday terms learn."""
    x = np.log1p(y.clip(lower=0))
    resid = x - x.rolling(window, center=True, min_periods=max(3, window // 3)).median()
    mad = float((resid - resid.median()).abs().median())
    if not mad > 0:
        return y
    z = 0.6745 * (resid - resid.median()) / mad
    outlier = (z.abs() > z_max).to_numpy() & ~y.index.isin(list(keep))
    return y.loc[~outlier]


def choose_scale(trading_days: pd.Series, min_positive_share: float) -> str:
    """'log' when sales are positive on (almost) every trading day, else 'linear':
    log1p of a series that is often 0 is bimodal and Prophet's Gaussian fit breaks."""
    if trading_days.empty:
        return "linear"
    return "log" if float((trading_days > 0).mean()) >= min_positive_share else "linear"


# ---------------------------------------------------------------------------- prophet


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
    return seasonal_naive(history, cfg.horizon_days, calendar.weekdays, cfg.interval_width,
                          cfg.naive_interval_window, calendar.closures | closed_future)


def _candidates(history: pd.Series, calendar: Calendar, cfg: ForecastConfig) -> tuple[dict[str, pd.DataFrame], str]:
    closed_future = holiday_closures(history, cfg.horizon_days, calendar, cfg.holiday_country)
    naive = baseline_forecast(history, calendar, cfg)
    prophet, scale = prophet_forecast(history, cfg.horizon_days, calendar, closed_future, cfg)
    return {"naive": naive, "prophet": prophet, "blend": blend_forecast(prophet, naive)}, scale


def version_of(candidate: str, scale: str = "log") -> str:
    return {"naive": VERSION_NAIVE, "prophet": VERSION_PROPHET[scale], "blend": VERSION_BLEND}[candidate]


# ---------------------------------------------------------------------------- core


def choose_model(backtest: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The best challenger by mean backtest MASE if it is strictly lower than the
    seasonal naive's; otherwise the baseline."""
    challengers = [name for name in ("prophet", "blend") if name in backtest]
    if not challengers or "naive" not in backtest:
        return "naive", "no challenger was backtested: seasonal naive"
    best = min(challengers, key=lambda name: backtest[name]["mase"])
    if backtest[best]["mase"] < backtest["naive"]["mase"]:
        return best, (f"{best} beats seasonal naive on backtest MASE "
                      f"({backtest[best]['mase']:.2f} < {backtest['naive']['mase']:.2f})")
    return "naive", (f"seasonal naive not beaten on backtest MASE "
                     f"(best {best} {backtest[best]['mase']:.2f} >= {backtest['naive']['mase']:.2f}): baseline published")


def _short_history(series: str, metric: str, history: pd.Series, calendar: Calendar, cfg: ForecastConfig,
                   reason: str) -> SeriesForecast:
    if len(history) < 7:
        closed = calendar.closures | holiday_closures(history, cfg.horizon_days, calendar, cfg.holiday_country)
        frame = mean_forecast(history, cfg.horizon_days, calendar.weekdays, cfg.interval_width, closed)
        return SeriesForecast(series, metric, frame, VERSION_MEAN, {}, f"{reason}: mean of open days",
                              {"chosen": "mean"})
    frame = baseline_forecast(history, calendar, cfg)
    return SeriesForecast(series, metric, frame, VERSION_NAIVE, {}, f"{reason}: seasonal naive",
                          {"chosen": "naive"})


def _cpu_seconds() -> float:
    """CPU of this process and its finished children (cmdstan runs as a child)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def forecast_series(series: str, metric: str, history: pd.Series, calendar: Calendar,
                    cfg: ForecastConfig) -> SeriesForecast:
    """Backtest, choose and forecast one series (pure; runs in a worker process).
    ``timing`` records the wall and CPU seconds it took."""
    started, cpu = time.monotonic(), _cpu_seconds()
    result = _forecast_series(series, metric, history, calendar, cfg)
    result.timing.update(seconds=round(time.monotonic() - started, 2), cpu_seconds=round(_cpu_seconds() - cpu, 2))
    return result


def _forecast_series(series: str, metric: str, history: pd.Series, calendar: Calendar,
                     cfg: ForecastConfig) -> SeriesForecast:
    horizon = cfg.horizon_days
    n_days = len(history)
    if n_days < cfg.min_prophet_days:
        return _short_history(series, metric, history, calendar, cfg, f"short history ({n_days} days)")

    folds: list[dict[str, Any]] = []
    for length in fold_origins(n_days, horizon, cfg.folds, cfg.min_train_days):
        train, actual = history.iloc[:length], history.iloc[length : length + horizon]
        known = calendar.up_to(train.index[-1])  # closures after the origin are not known yet
        scale = naive_scale(train, known.weekdays)
        frames, _ = _candidates(train, known, cfg)
        fold: dict[str, Any] = {"window": f"{actual.index[0].date()}..{actual.index[-1].date()}"}
        fold.update({name: score(frame, actual, scale, known.weekdays) for name, frame in frames.items()})
        folds.append(fold)
    backtest = {}
    for name in CANDIDATES:
        values = {key: [f[name][key] for f in folds] for key in ("mae", "mase", "coverage")}
        if any(not np.isnan(v) for v in values["mase"]):
            backtest[name] = {key: float(np.nanmean(v)) for key, v in values.items()}
    if "naive" not in backtest:
        return _short_history(series, metric, history, calendar, cfg,
                              f"{n_days} days are too few or too flat for a backtest")

    final, scale = _candidates(history, calendar, cfg)
    chosen, reason = choose_model(backtest)
    details = {"chosen": chosen, "scale": scale, "folds": folds}
    return SeriesForecast(series, metric, final[chosen], version_of(chosen, scale), backtest, reason, details)


def forecast_all(
    series: dict[tuple[str, str], pd.Series], calendar: Calendar, cfg: ForecastConfig
) -> list[SeriesForecast]:
    """Fit every series, in parallel across ``cfg.n_jobs`` processes (one series each:
    Prophet's Stan fit is single-threaded, so processes are what uses both cores)."""
    tasks = [(name, metric, values) for (name, metric), values in series.items()]
    if cfg.n_jobs <= 1 or len(tasks) <= 1:
        return [forecast_series(n, m, v, calendar, cfg) for n, m, v in tasks]
    from joblib import Parallel, delayed

    return list(
        Parallel(n_jobs=min(cfg.n_jobs, len(tasks)), backend="loky")(
            delayed(forecast_series)(n, m, v, calendar, cfg) for n, m, v in tasks
        )
    )


def forecast_frame(results: list[SeriesForecast]) -> pd.DataFrame:
    frames = [r.forecast.assign(series=r.series, metric=r.metric, model_version=r.model_version) for r in results]
    out = pd.concat(frames, ignore_index=True)
    out["ds"] = pd.to_datetime(out["ds"]).dt.date
    return out[OUTPUT_COLUMNS]


def run_metrics(result: SeriesForecast, interval_width: float) -> list[Metric]:
    """model_runs rows: the published model's backtest means next to seasonal naive's
    (every candidate's means and per-fold figures go into the details)."""
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


def chart_name(result: SeriesForecast) -> str:
    """File name the UI lists: letters, digits, '_', '.', '-' only, e.g. total_revenue.png."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{result.series}_{result.metric}").strip("_.-")
    return f"{stem or 'series'}.png"


def save_chart(result: SeriesForecast, history: pd.Series, path: Path, tail_days: int, interval_width: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    tail = history.iloc[-tail_days:]
    fc = result.forecast
    ds = pd.to_datetime(fc["ds"])
    fig, ax = plt.subplots(figsize=(10, 4))
    try:
        ax.plot(tail.index, tail.to_numpy(), color="#444444", lw=1, label="history")
        ax.plot(ds, fc["yhat"], color="#1f77b4", lw=1.5, label=result.model_version)
        ax.fill_between(ds, fc["yhat_lower"], fc["yhat_upper"], color="#1f77b4", alpha=0.2,
                        label=f"{interval_width:.0%} interval")
        ax.set_title(f"{result.series} {result.metric}", loc="left")
        ax.set_title(result.reason, loc="right", fontsize=8)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)
    return path


def write_charts(results: list[SeriesForecast], series: dict[tuple[str, str], pd.Series], directory: Path,
                 cfg: ForecastConfig) -> list[Path]:
    """One PNG per series in ``directory`` (the day's folder), replaced as a whole so a
    re-run never leaves charts of series that are no longer forecast."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for result in results:
            save_chart(result, series[(result.series, result.metric)], staging / chart_name(result),
                       cfg.chart_history_days, cfg.interval_width)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(directory.glob("*.png"))


# ---------------------------------------------------------------------------- I/O


def run(as_of: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    cfg = ForecastConfig.from_settings(settings)
    started = time.monotonic()
    with connect(settings) as con:
        if not table_exists(con, "fct_daily_sales", "marts"):
            log.info("forecast skipped: marts.fct_daily_sales missing")
            return {"skipped": "marts.fct_daily_sales missing"}
        sales = read_df(con, "select ds, series, revenue, orders from marts.fct_daily_sales where ds <= ?", [as_of])
    series = build_series(sales, as_of, cfg.top_categories)
    if not series:
        log.info("forecast skipped: no daily sales up to %s", as_of)
        return {"skipped": f"no daily sales up to {as_of}"}
    calendar = shop_calendar(series[("total", "revenue")], cfg)
    fit_started = time.monotonic()
    results = forecast_all(series, calendar, cfg)
    fit_seconds = time.monotonic() - fit_started

    chart_dir = settings.charts_dir / str(as_of)
    charts = write_charts(results, series, chart_dir, cfg)

    forecasts = forecast_frame(results)
    # One write for all series keeps the day atomic; each row carries its own version.
    runs = pd.concat(
        [metrics_frame(MODEL_NAME, r.model_version, run_metrics(r, cfg.interval_width)) for r in results],
        ignore_index=True,
    ).drop(columns=["model"])
    with connect(settings) as con:
        written = replace_partition(con, "sales_forecast", forecasts, as_of, schema=OUTPUT_SCHEMA)
        replace_partition(con, "model_runs", runs, as_of, schema=OUTPUT_SCHEMA, scope={"model": MODEL_NAME})
    summary = {
        "rows": written,
        "series": len(results),
        "closed_weekdays": sorted(calendar.weekdays),
        "closures": len(calendar.closures),
        "published": {f"{r.series}:{r.metric}": r.model_version for r in results},
        "baseline_published": [f"{r.series}:{r.metric}" for r in results if r.model_version == VERSION_NAIVE],
        "mase": {
            f"{r.series}:{r.metric}": round(r.backtest[r.details["chosen"]]["mase"], 3)
            for r in results
            if r.backtest and "chosen" in r.details
        },
        "charts": str(chart_dir),
        "chart_files": len(charts),
        "fit_seconds": round(fit_seconds, 1),
        "fit_cpu_seconds": round(sum(r.timing.get("cpu_seconds", 0.0) for r in results), 1),
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info("forecast %s", summary)
    return summary

"""The pure core: backtest every candidate per series, choose, forecast, report."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from cx.model_runs import Metric
from cx.models.forecast._backtest import fold_origins, mean_forecast, naive_scale, open_mask, score
from cx.models.forecast._calendar import Calendar, holiday_closures
from cx.models.forecast._config import (
    CANDIDATES,
    OUTPUT_COLUMNS,
    VERSION_MEAN,
    VERSION_NAIVE,
    ForecastConfig,
    SeriesForecast,
)
from cx.models.forecast._model import _candidates, baseline_forecast, version_of


def choose_model(backtest: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The best challenger by mean backtest MASE if it is strictly lower than the
    seasonal naive's; otherwise the baseline."""
    challengers = [name for name in ("prophet", "blend") if name in backtest]
    if not challengers or "naive" not in backtest:
        return "naive", "no challenger was backtested: seasonal naive"
    best = min(challengers, key=lambda name: backtest[name]["mase"])
    if backtest[best]["mase"] < backtest["naive"]["mase"]:
        return best, (
            f"{best} beats seasonal naive on backtest MASE "
            f"({backtest[best]['mase']:.2f} < {backtest['naive']['mase']:.2f})"
        )
    return "naive", (
        f"seasonal naive not beaten on backtest MASE "
        f"(best {best} {backtest[best]['mase']:.2f} >= {backtest['naive']['mase']:.2f}): baseline published"
    )


def _short_history(
    series: str, metric: str, history: pd.Series, calendar: Calendar, cfg: ForecastConfig, reason: str
) -> SeriesForecast:
    if len(history) < 7:
        closed = calendar.closures | holiday_closures(history, cfg.horizon_days, calendar, cfg.holiday_country)
        frame = mean_forecast(history, cfg.horizon_days, calendar.weekdays, cfg.interval_width, closed)
        return SeriesForecast(
            series, metric, frame, VERSION_MEAN, {}, f"{reason}: mean of open days", {"chosen": "mean"}
        )
    frame = baseline_forecast(history, calendar, cfg)
    return SeriesForecast(series, metric, frame, VERSION_NAIVE, {}, f"{reason}: seasonal naive", {"chosen": "naive"})


def _cpu_seconds() -> float:
    """CPU of this process and its finished children (cmdstan runs as a child)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def forecast_series(
    series: str, metric: str, history: pd.Series, calendar: Calendar, cfg: ForecastConfig
) -> SeriesForecast:
    """Backtest, choose and forecast one series (pure; runs in a worker process).
    ``timing`` records the wall and CPU seconds it took."""
    started, cpu = time.monotonic(), _cpu_seconds()
    result = _forecast_series(series, metric, history, calendar, cfg)
    result.timing.update(seconds=round(time.monotonic() - started, 2), cpu_seconds=round(_cpu_seconds() - cpu, 2))
    return result


def _forecast_series(
    series: str, metric: str, history: pd.Series, calendar: Calendar, cfg: ForecastConfig
) -> SeriesForecast:
    horizon = cfg.horizon_days
    n_days = len(history)
    if n_days < cfg.min_prophet_days:
        return _short_history(series, metric, history, calendar, cfg, f"short history ({n_days} days)")

    folds: list[dict[str, Any]] = []
    fold_frames = []
    for k, length in enumerate(fold_origins(n_days, horizon, cfg.folds, cfg.min_train_days)):
        train, actual = history.iloc[:length], history.iloc[length : length + horizon]
        known = calendar.up_to(train.index[-1])  # closures after the origin are not known yet
        scale = naive_scale(train, known.weekdays)
        frames, _ = _candidates(train, known, cfg)
        fold: dict[str, Any] = {"window": f"{actual.index[0].date()}..{actual.index[-1].date()}"}
        fold.update({name: score(frame, actual, scale, known.weekdays) for name, frame in frames.items()})
        folds.append(fold)
        fold_frames.append(
            _fold_frame(
                k, frames, baseline_forecast(train, known, replace(cfg, interval_width=0.95)), actual, scale, known
            )
        )
    backtest = {}
    for name in CANDIDATES:
        values = {key: [f[name][key] for f in folds] for key in ("mae", "mase", "coverage")}
        if any(not np.isnan(v) for v in values["mase"]):
            backtest[name] = {key: float(np.nanmean(v)) for key, v in values.items()}
    if "naive" not in backtest:
        return _short_history(
            series, metric, history, calendar, cfg, f"{n_days} days are too few or too flat for a backtest"
        )

    final, scale = _candidates(history, calendar, cfg)
    chosen, reason = choose_model(backtest)
    details = {"chosen": chosen, "scale": scale, "folds": folds}
    result = SeriesForecast(series, metric, final[chosen], version_of(chosen, scale), backtest, reason, details)
    result.fold_forecasts = pd.concat(fold_frames, ignore_index=True) if fold_frames else None
    return result


def _fold_frame(
    k: int, frames: dict[str, pd.DataFrame], naive95: pd.DataFrame, actual: pd.Series, scale: float, known: Calendar
) -> pd.DataFrame:
    """Every candidate's forecast of one backtest window next to the actuals (what the
    reconciliation and the conformal intervals are fitted on)."""
    ds = pd.DatetimeIndex(frames["naive"]["ds"])
    out = pd.DataFrame({"fold": k, "ds": ds, "h": np.arange(1, len(ds) + 1)})
    out["y"] = actual.reindex(ds).to_numpy()
    out["open"] = open_mask(ds, known.weekdays)
    out["scale"] = scale
    for name, frame in frames.items():
        out[name] = frame["yhat"].to_numpy()
    naive = frames["naive"]
    out["naive_lo80"], out["naive_hi80"] = naive["yhat_lower"].to_numpy(), naive["yhat_upper"].to_numpy()
    out["naive_lo95"], out["naive_hi95"] = naive95["yhat_lower"].to_numpy(), naive95["yhat_upper"].to_numpy()
    return out


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


def publishable(results: list[SeriesForecast], cfg: ForecastConfig) -> dict[str, Any]:
    """Reconcile the revenue hierarchy, then calibrate every series' intervals on the
    backtest of what is published (in place); returns the reconciliation's details."""
    from cx.models.forecast._calibrate import calibrate
    from cx.models.forecast._hierarchy import reconcile_results

    info = reconcile_results(results, cfg)
    for r in results:
        calibrate(r, cfg)
    return info


def run_metrics(result: SeriesForecast, interval_width: float = 0.8, tolerance: float = 0.05) -> list[Metric]:
    """model_runs rows: the published model's backtest means next to seasonal naive's
    (every candidate's means and per-fold figures go into the details); the published
    intervals' cross-fitted coverage (80%, 95%; the gate: within ``tolerance`` of
    nominal), mean width and weighted interval score next to the naive's intervals."""
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
    if "mase_published" in result.intervals:  # after reconciliation
        rows.append(Metric(f"mase_reconciled:{key}", result.intervals["mase_published"], naive.get("mase")))
    pub, base = result.intervals.get("published", {}), result.intervals.get("naive", {})
    for level, name in ((interval_width, "coverage"), (0.95, "coverage95")):
        value = pub.get(f"coverage_{round(level * 100)}")
        passed = None if value is None else abs(value - level) <= tolerance
        rows.append(Metric(f"{name}:{key}", value, base.get(f"coverage_{round(level * 100)}"), passed))
    if pub:
        rows.append(Metric(f"width80:{key}", pub["width_80"], base.get("width_80")))
        rows.append(Metric(f"wis:{key}", pub["wis"], base.get("wis"), pub["wis"] <= base.get("wis", float("inf"))))
    return rows

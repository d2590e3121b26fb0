"""Put calibrated 80% and 95% intervals on every series' published (reconciled) forecast."""

from __future__ import annotations

import numpy as np

from cx.models.forecast._config import ForecastConfig, SeriesForecast
from cx.models.forecast._conformal import Residuals, cross_fitted, interval_columns, quantiles, summarise, widen_to_95


def residuals_of(result: SeriesForecast) -> Residuals | None:
    """The published forecast's backtest on open days with an actual (the chosen
    candidate's when nothing was reconciled)."""
    folds = result.fold_forecasts
    if folds is None:
        return None
    column = "published" if "published" in folds else result.details.get("chosen", "naive")
    keep = folds["open"].to_numpy() & folds["y"].notna().to_numpy()
    if not keep.any():
        return None
    y = folds["y"].to_numpy(dtype="float64")[keep]
    return Residuals(
        fold=folds["fold"].to_numpy()[keep],
        h=folds["h"].to_numpy()[keep],
        y=y,
        yhat=folds[column].to_numpy(dtype="float64")[keep],
        floor=max(0.1 * float(np.abs(y).mean()), 1e-9),
    )


def naive_intervals(result: SeriesForecast) -> dict[str, float]:
    """The seasonal naive's own empirical intervals on the same backtest days."""
    folds = result.fold_forecasts
    keep = folds["open"].to_numpy() & folds["y"].notna().to_numpy()
    f = folds.loc[keep]
    cols = {
        "yhat_lower": f["naive_lo80"].to_numpy(),
        "yhat_upper": f["naive_hi80"].to_numpy(),
        "yhat_lower_95": f["naive_lo95"].to_numpy(),
        "yhat_upper_95": f["naive_hi95"].to_numpy(),
    }
    return summarise(f["y"].to_numpy(dtype="float64"), f["naive"].to_numpy(dtype="float64"), cols)


def calibrate(result: SeriesForecast, cfg: ForecastConfig) -> None:
    """Conformal intervals from the backtest of the published forecast; a series
    without one keeps its model's 80% interval, widened to 95% (said in the details)."""
    frame = result.forecast.copy()
    closed = (frame["yhat"] == 0) & (frame["yhat_upper"] == 0)
    r = residuals_of(result)
    if r is None:
        frame["yhat_lower"] = np.minimum(frame["yhat_lower"], frame["yhat"])
        frame["yhat_upper"] = np.maximum(frame["yhat_upper"], frame["yhat"])
        result.forecast = widen_to_95(frame)
        result.details["intervals"] = "model's own 80%, 95% widened as a normal interval (no backtest)"
        return
    q = quantiles(r, cfg.band_days)
    h = np.arange(1, len(frame) + 1)
    for name, values in interval_columns(frame["yhat"].to_numpy(dtype="float64"), h, q, cfg.band_days, r.floor).items():
        frame[name] = values
    bounds = ["yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95"]
    frame.loc[closed, bounds] = 0.0  # a closed day sells nothing
    result.forecast = frame
    result.details["intervals"] = f"conformal, errors over sqrt(level), bands of {cfg.band_days} days"
    result.details["conformal_quantiles"] = {f"{b}:{lvl}": round(v, 6) for (b, lvl), v in q.items()}
    published = cross_fitted(r, cfg.band_days)
    mase = (
        np.abs(r.y - r.yhat)
        / result.fold_forecasts.loc[
            result.fold_forecasts["open"] & result.fold_forecasts["y"].notna(), "scale"
        ].to_numpy()
    )
    result.intervals = {
        "published": published,
        "naive": naive_intervals(result),
        "mase_published": float(np.mean([mase[r.fold == k].mean() for k in np.unique(r.fold)])),
    }

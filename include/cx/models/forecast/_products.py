"""Daily unit demand of the products that make up most of the sales.

The products: the top ``product_top_n`` by revenue over the last year, stopping once
they cover ``product_revenue_share`` of it. Every intermittent-demand method of
``_demand`` and the seasonal naive (last week repeated, the baseline) are backtested
over rolling origins; each product gets the method with the lowest mean RMSSE (the
M5 competition's scaled error: RMSE over the in-sample RMSE of the one-day naive).
The honest figure in ``model_runs`` scores that choice made on the older folds on the
newest fold, against the seasonal naive, as the mean over products. The methods are
published only if they beat the naive there; otherwise the naive is, for every
product. 80% intervals: the 10% and 90% quantiles of each product's backtest errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from cx.model_runs import Metric
from cx.models.forecast._backtest import fold_origins, open_mask
from cx.models.forecast._calendar import Calendar
from cx.models.forecast._demand import rates

BASELINE = "snaive"
METHODS = (BASELINE, "croston", "sba", "tsb", "adida", "ma28")
VERSION = "product-demand-v1"  # model_runs version; rows carry the method, e.g. "tsb-v1"
PRODUCT_COLUMNS = ["product_id", "ds", "yhat", "yhat_lower", "yhat_upper", "model_version"]


@dataclass(frozen=True)
class ProductConfig:
    top_n: int = 500
    revenue_share: float = 1.0  # stop adding products once they cover this share of revenue
    history_days: int = 365
    horizon_days: int = 28
    folds: int = 3
    min_train_days: int = 56


@dataclass
class ProductForecast:
    forecast: pd.DataFrame  # PRODUCT_COLUMNS
    metrics: list[Metric]
    summary: dict[str, Any] = field(default_factory=dict)


def top_products(lines: pd.DataFrame, as_of: date, top_n: int, share: float) -> list[str]:
    """Products by revenue over the last 365 days (ties by id), up to ``top_n`` and
    until ``share`` of the revenue is covered."""
    recent = lines.loc[pd.to_datetime(lines["ds"]) > pd.Timestamp(as_of) - pd.Timedelta(days=365)]
    revenue = recent.groupby("product_id")["revenue"].sum()
    revenue = revenue[revenue > 0]
    if revenue.empty:
        return []
    order = pd.DataFrame({"id": revenue.index.astype(str), "rev": revenue.to_numpy()})
    order = order.sort_values(["rev", "id"], ascending=[False, True], kind="stable")
    covered = order["rev"].cumsum().to_numpy() / order["rev"].sum()
    upto = int(np.searchsorted(covered, share - 1e-12) + 1)  # the product that reaches the share is in
    return order["id"].head(min(top_n, upto)).tolist()


def demand_matrix(lines: pd.DataFrame, products: list[str], index: pd.DatetimeIndex) -> np.ndarray:
    """products x days of units sold, 0 where nothing sold."""
    frame = lines.assign(ds=pd.to_datetime(lines["ds"]), product_id=lines["product_id"].astype(str))
    frame = frame.loc[frame["product_id"].isin(products) & frame["ds"].isin(index)]
    table = frame.pivot_table(index="product_id", columns="ds", values="units", aggfunc="sum", fill_value=0.0)
    table = table.reindex(index=products, columns=index, fill_value=0.0)
    return np.clip(table.to_numpy(dtype="float64"), 0.0, None)


def weekday_profile(y: np.ndarray, index: pd.DatetimeIndex, is_open: np.ndarray) -> np.ndarray:
    """Relative demand per weekday (mean 1 over open weekdays, 0 on closed ones)."""
    pooled = pd.Series(y.sum(axis=0)[is_open], index=index[is_open])
    means = pooled.groupby(pooled.index.day_of_week).mean().reindex(range(7))
    if not means.notna().any() or not means.mean() > 0:
        return np.where(means.notna(), 1.0, 0.0)
    return (means / means.mean()).fillna(0.0).to_numpy()


def predict(y: np.ndarray, index: pd.DatetimeIndex, calendar: Calendar, horizon: int) -> dict[str, np.ndarray]:
    """method -> products x horizon forecasts made at the end of ``index``."""
    is_open = open_mask(index, calendar.weekdays, calendar.closures)
    future = pd.date_range(index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    future_open = open_mask(future, calendar.weekdays)
    profile = weekday_profile(y, index, is_open)[future.day_of_week] * future_open
    open_weekdays = 7 - len(calendar.weekdays)
    out = {name: rate[:, None] * profile[None, :] for name, rate in rates(y[:, is_open], open_weekdays).items()}
    steps = np.arange(horizon)
    source = y.shape[1] - 7 + steps % 7
    naive = y[:, np.clip(source, 0, None)] if y.shape[1] >= 7 else np.repeat(y.mean(axis=1)[:, None], horizon, 1)
    out[BASELINE] = naive * future_open
    return out


def _scales(train: np.ndarray, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMSSE denominator (mean squared one-open-day change) and MASE's (mean absolute
    change over 7 days), per product; nan where the history never changes."""
    opened = train[:, is_open]
    sq = np.mean(np.diff(opened, axis=1) ** 2, axis=1) if opened.shape[1] > 1 else np.full(len(train), np.nan)
    ab = np.abs(train[:, 7:] - train[:, :-7])[:, is_open[7:]].mean(axis=1) if train.shape[1] > 7 else sq * np.nan
    return np.where(sq > 0, sq, np.nan), np.where(ab > 0, ab, np.nan)


def backtest(y: np.ndarray, index: pd.DatetimeIndex, calendar: Calendar, cfg: ProductConfig) -> list[dict[str, Any]]:
    folds = []
    for length in fold_origins(len(index), cfg.horizon_days, cfg.folds, cfg.min_train_days):
        train_index = index[:length]
        known = calendar.up_to(train_index[-1])
        preds = predict(y[:, :length], train_index, known, cfg.horizon_days)
        actual = y[:, length : length + cfg.horizon_days]
        test_open = open_mask(index[length : length + cfg.horizon_days], known.weekdays)
        sq_scale, abs_scale = _scales(y[:, :length], open_mask(train_index, known.weekdays))
        fold = {"window": f"{index[length].date()}..{index[length + cfg.horizon_days - 1].date()}", "preds": preds}
        fold["actual"], fold["open"] = actual, test_open
        fold["rmsse"] = {
            m: np.sqrt(np.mean((actual - p)[:, test_open] ** 2, axis=1) / sq_scale) for m, p in preds.items()
        }
        fold["mase"] = {m: np.mean(np.abs(actual - p)[:, test_open], axis=1) / abs_scale for m, p in preds.items()}
        folds.append(fold)
    return folds


def choose(folds: list[dict[str, Any]], n: int) -> np.ndarray:
    """Per product, the method (index in METHODS) with the lowest mean RMSSE over ``folds``."""
    if not folds:
        return np.zeros(n, dtype=int)
    table = np.stack([np.mean([f["rmsse"][m] for f in folds], axis=0) for m in METHODS], axis=1)
    table = np.where(np.isnan(table), np.inf, table)
    table[:, 0] = np.where(np.isinf(table).all(axis=1), 0.0, table[:, 0])  # no scale: the baseline
    return np.argmin(table, axis=1)


def _pick(preds: dict[str, np.ndarray], chosen: np.ndarray) -> np.ndarray:
    stacked = np.stack([preds[m] for m in METHODS], axis=0)
    return stacked[chosen, np.arange(len(chosen))]


def forecast_products(lines: pd.DataFrame, as_of: date, calendar: Calendar, cfg: ProductConfig) -> ProductForecast:
    """Backtest, choose per product, forecast; the day's rows and model_runs metrics."""
    empty = pd.DataFrame(columns=PRODUCT_COLUMNS)
    products = top_products(lines, as_of, cfg.top_n, cfg.revenue_share) if not lines.empty else []
    if not products:
        return ProductForecast(empty, [], {"products": 0, "reason": "no product sales in the last year"})
    first = max(pd.to_datetime(lines["ds"]).min(), pd.Timestamp(as_of) - pd.Timedelta(days=cfg.history_days - 1))
    index = pd.date_range(first, pd.Timestamp(as_of), freq="D")
    y = demand_matrix(lines, products, index)
    folds = backtest(y, index, calendar, cfg)
    n = len(products)
    metrics: list[Metric] = []
    summary: dict[str, Any] = {"products": n}
    use_methods = True
    if len(folds) >= 2:
        # Honest: the choice made on the older folds, scored on the newest.
        held, last = choose(folds[:-1], n), folds[-1]
        sel_rmsse = _pick(last["rmsse"], held)
        sel_mase = _pick(last["mase"], held)
        ok = np.isfinite(sel_rmsse) & np.isfinite(last["rmsse"][BASELINE])
        rmsse, base_rmsse = float(sel_rmsse[ok].mean()), float(last["rmsse"][BASELINE][ok].mean())
        okm = np.isfinite(sel_mase) & np.isfinite(last["mase"][BASELINE])
        mase, base_mase = float(sel_mase[okm].mean()), float(last["mase"][BASELINE][okm].mean())
        use_methods = rmsse < base_rmsse
        per_method = {m: round(float(np.nanmean(last["rmsse"][m][ok])), 4) for m in METHODS}
        details = {"window": last["window"], "products_scored": int(ok.sum()), "rmsse_by_method": per_method}
        metrics += [
            Metric("rmsse:units:products", rmsse, base_rmsse, use_methods, details),
            Metric("products_mase:units", mase, base_mase),
        ]
        summary.update(rmsse=round(rmsse, 4), naive_rmsse=round(base_rmsse, 4))
    chosen = choose(folds, n) if use_methods else np.zeros(n, dtype=int)
    final = _pick(predict(y, index, calendar, cfg.horizon_days), chosen)
    future = pd.date_range(index[-1] + pd.Timedelta(days=1), periods=cfg.horizon_days, freq="D")
    lower, upper, coverage = _intervals(folds, chosen, final, open_mask(future, calendar.weekdays))
    if coverage is not None:
        metrics.append(Metric("products_coverage:units", coverage))
    counts = {m: int((chosen == i).sum()) for i, m in enumerate(METHODS)}
    summary["methods"] = counts
    if metrics:
        metrics[0].details["methods"] = counts
    frame = pd.DataFrame(
        {
            "product_id": np.repeat(products, len(future)),
            "ds": np.tile(future.date, n),
            "yhat": final.ravel(),
            "yhat_lower": lower.ravel(),
            "yhat_upper": upper.ravel(),
            "model_version": np.repeat([f"{METHODS[c]}-v1" for c in chosen], len(future)),
        }
    )
    return ProductForecast(frame[PRODUCT_COLUMNS], metrics, summary)


def _intervals(
    folds: list[dict[str, Any]], chosen: np.ndarray, final: np.ndarray, final_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """10%/90% quantiles of each product's backtest errors around the final forecast;
    coverage of the newest fold with quantiles from the older ones."""
    if not folds:
        return final, final, None

    def errors(fs: list[dict[str, Any]]) -> np.ndarray:
        return np.concatenate([(f["actual"] - _pick(f["preds"], chosen))[:, f["open"]] for f in fs], axis=1)

    def bounds(err: np.ndarray, point: np.ndarray, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Split-conformal ranks: at least 80% of exchangeable days inside.
        n = err.shape[1]
        lo = np.quantile(err, max(0.0, np.floor(0.1 * (n + 1)) - 1) / max(n - 1, 1), axis=1, method="lower")
        hi = np.quantile(err, min(1.0, (np.ceil(0.9 * (n + 1)) - 1) / max(n - 1, 1)), axis=1, method="higher")
        lower = np.where(is_open, np.clip(point + lo[:, None], 0.0, None), 0.0)  # closed days stay at 0
        upper = np.where(is_open, point + hi[:, None], 0.0)
        return np.minimum(lower, point), np.maximum(upper, point)

    coverage = None
    if len(folds) >= 2:
        last = folds[-1]
        lo, hi = bounds(errors(folds[:-1]), _pick(last["preds"], chosen), last["open"])
        inside = (last["actual"] >= lo) & (last["actual"] <= hi)
        coverage = float(inside[:, last["open"]].mean())
    lower, upper = bounds(errors(folds), final, final_open)
    return lower, upper, coverage

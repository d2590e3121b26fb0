"""The daily series to forecast, their outliers and the scale they are fitted on."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cx.models.forecast._config import OTHER_CATEGORIES
from cx.row_order import sort_rows


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
    rest = cats.loc[~cats["series"].isin(top.index)]
    if not top.empty and not rest.empty:  # the hierarchy's last member: total = categories + the rest
        out[(OTHER_CATEGORIES, "revenue")] = daily(rest, "revenue")
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

"""From marts rows to each population's scaled design matrix (raw, imputed, log, robust
scaling), and the order trend and price point per customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cx.models.segmentation._config import (
    FEATURES,
    LOG_FEATURES,
    MEDIAN_IF_MISSING,
    UNDEFINED_WITHOUT_ORDERS,
    ZERO_IF_MISSING,
    SegmentationConfig,
)
from cx.row_order import sort_rows


@dataclass(frozen=True)
class _Scaler:
    """Median centring and a robust spread, per column (sklearn's RobustScaler falls
    back to 1 when the IQR is 0, which silences zero-inflated features such as returns)."""

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> _Scaler:
        center = np.median(values, axis=0)
        q05, q25, q75, q95 = np.percentile(values, [5, 25, 75, 95], axis=0)
        # Both spreads are divided by their value for a standard normal, so they agree.
        iqr, wide, std = (q75 - q25) / 1.349, (q95 - q05) / 3.29, values.std(axis=0)
        scale = np.where(iqr > 0, iqr, np.where(wide > 0, wide, np.where(std > 0, std, 1.0)))
        return cls(center, scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center) / self.scale


def _raw_features(features: pd.DataFrame) -> pd.DataFrame:
    raw = pd.DataFrame(index=features.index)
    for name in FEATURES:
        values = (
            pd.to_numeric(features[name], errors="coerce")
            if name in features.columns
            else pd.Series(np.nan, index=features.index)
        )
        raw[name] = values.astype("float64").replace([np.inf, -np.inf], np.nan)  # a broken ratio is unknown
    return raw


def _buyer_mask(raw: pd.DataFrame) -> np.ndarray:
    return (raw["frequency"].fillna(0.0) > 0).to_numpy()


def _impute(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Original units, no NULLs; features with no value at all are dropped."""
    buyers = _buyer_mask(raw)
    imputed = pd.DataFrame(index=raw.index)
    dropped: dict[str, str] = {}
    for name in FEATURES:
        col = raw[name]
        if col.notna().sum() == 0:
            dropped[name] = "all missing"
            continue
        if name == "recency_days":
            # Recency is censored by the order history: without an order in it, a customer
            # is at least as lapsed as the longest silence observed among buyers.
            observed = col[buyers & col.notna().to_numpy()]
            col = col.fillna(observed.max() if len(observed) else col.max())
        elif name in ZERO_IF_MISSING:
            col = col.fillna(0.0)
        elif name in MEDIAN_IF_MISSING:
            # Median among buyers for purchase features (a non-buyer has no price point).
            ref = col[buyers] if name in UNDEFINED_WITHOUT_ORDERS and col[buyers].notna().any() else col
            col = col.fillna(ref.median())
        if name in LOG_FEATURES or name == "recency_days":
            col = col.clip(lower=0.0)  # refunds can make spend negative; log1p needs >= 0
        if name in ("return_rate", "cart_abandonment_rate", "recent_order_share"):
            col = col.clip(0.0, 1.0)
        imputed[name] = col
    return imputed, dropped


def _transform(imputed: pd.DataFrame) -> np.ndarray:
    values = imputed.to_numpy(dtype="float64", copy=True)
    for j, name in enumerate(imputed.columns):
        if name in LOG_FEATURES:
            values[:, j] = np.log1p(values[:, j])
    return values


def _design(
    imputed: pd.DataFrame, candidates: tuple[str, ...], cfg: SegmentationConfig
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Scaled matrix of one population on the candidate features it has variation in."""
    dropped: dict[str, str] = {}
    used = []
    for name in candidates:
        if name not in imputed.columns:
            dropped[name] = "all missing"
        elif imputed[name].nunique() <= 1:
            dropped[name] = "constant"
        else:
            used.append(name)
    if not used or imputed.empty:
        return np.zeros((len(imputed), 0)), used, dropped
    values = _transform(imputed[used])
    scaled = _Scaler.fit(values).transform(values)
    return np.clip(scaled, -cfg.clip_scaled, cfg.clip_scaled), used, dropped


def order_activity(orders: pd.DataFrame, as_of: date, cfg: SegmentationConfig) -> pd.DataFrame:
    """Per customer, from order rows (customer_id, order_date, status, units, order_amount):
    ``recent_order_share``, the share of their orders in the last ``cfg.recent_days`` (NULL
    for everyone when the history is shorter than twice that: then all orders are recent),
    and ``avg_item_price``, spend per unit bought. Cancelled orders do not count."""
    columns = {
        "customer_id": pd.Series(dtype="string"),
        "recent_order_share": pd.Series(dtype="float64"),
        "avg_item_price": pd.Series(dtype="float64"),
    }
    if orders.empty or not {"customer_id", "order_date"} <= set(orders.columns):
        return pd.DataFrame(columns)
    o = sort_rows(orders.dropna(subset=["customer_id", "order_date"]), ["customer_id", "order_date"])
    if "status" in o.columns:
        o = o.loc[o["status"].astype("string").str.lower().fillna("") != "cancelled"]
    o["order_date"] = pd.to_datetime(o["order_date"]).dt.normalize()
    end = pd.Timestamp(as_of)
    o = o.loc[o["order_date"] <= end]
    if o.empty:
        return pd.DataFrame(columns)
    history_days = (end - o["order_date"].min()).days + 1
    o["recent"] = o["order_date"] > end - timedelta(days=cfg.recent_days)
    grouped = o.groupby(o["customer_id"].astype("string"))
    out = pd.DataFrame({"recent_order_share": grouped["recent"].mean().astype("float64")})
    if history_days < 2 * cfg.recent_days:
        out["recent_order_share"] = np.nan
    if {"units", "order_amount"} <= set(o.columns):
        units = pd.to_numeric(o["units"], errors="coerce")
        amount = pd.to_numeric(o["order_amount"], errors="coerce")
        priced = (units > 0) & amount.notna()
        spend = amount.where(priced).groupby(o["customer_id"].astype("string")).sum(min_count=1)
        bought = units.where(priced).groupby(o["customer_id"].astype("string")).sum(min_count=1)
        out["avg_item_price"] = (spend / bought.where(bought > 0)).clip(lower=0.0)
    else:
        out["avg_item_price"] = np.nan
    out = out.reset_index().rename(columns={"index": "customer_id"})
    return out.astype({"customer_id": "string", "recent_order_share": "float64", "avg_item_price": "float64"})

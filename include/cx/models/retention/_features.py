"""Each customer's history as of a cut, and what they did in the horizon after it.

Everything here is a function of (history, cut): rows after the cut are dropped
before anything is computed, so features at a training cut cannot see the labels
that follow it (``tests/test_retention.py`` checks it by perturbing them). Days are
integers (days since 1970-01-01); a transaction is a customer's purchase day (the
unit BG/NBD counts: several invoices of one day are one visit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ORDER_COLUMNS = ("customer_id", "order_date", "status", "order_amount", "returned_amount", "is_purchase")

# Learned model inputs (the BTYD terms are added per cut by the core), in order.
FEATURES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "mean_gap_days",
    "overdue_ratio",
    "orders_30",
    "orders_90",
    "orders_prev_90",
    "spend_90",
    "spend_rate",
    "return_share",
    "cancelled",
    "web_views_30",
    "web_carts_30",
    "web_days_90",
    "web_recency_days",
    "avg_rating",
    "avg_sentiment",
    "tickets_90",
)


def day_numbers(values: pd.Series) -> np.ndarray:
    """Dates or timestamps -> integer days since 1970-01-01."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[D]").astype("int64")


def day_number(day: object) -> int:
    return int(np.datetime64(pd.Timestamp(day).date(), "D").astype("int64"))


def transactions(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders -> one row per customer and day: purchases, net spend (orders less their
    returns, credit notes included), gross purchase amount, returns, cancellations."""
    if orders.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in _TX_TYPES.items()},
        )
    status = orders["status"].astype("string").fillna("")
    kept = (status != "cancelled").to_numpy()
    amount = pd.to_numeric(orders["order_amount"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    returned = pd.to_numeric(orders["returned_amount"], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
    purchase = orders["is_purchase"].fillna(False).to_numpy(dtype=bool)
    frame = pd.DataFrame(
        {
            "customer_id": orders["customer_id"].astype("string").to_numpy(),
            "day": day_numbers(orders["order_date"]),
            "purchases": purchase.astype("int64"),
            "net": np.where(kept, amount - returned, 0.0),
            "gross": np.where(purchase, amount, 0.0),
            "returned": np.where(kept, returned, 0.0),
            "cancelled": (~kept).astype("int64"),
        }
    )
    out = frame.groupby(["customer_id", "day"], as_index=False, sort=True).sum()
    return out.astype(_TX_TYPES)


_TX_TYPES = {
    "customer_id": "string",
    "day": "int64",
    "purchases": "int64",
    "net": "float64",
    "gross": "float64",
    "returned": "float64",
    "cancelled": "int64",
}


def _window_sum(frame: pd.DataFrame, column: str, lo: int, hi: int) -> pd.Series:
    """Per customer: sum of ``column`` over days in (lo, hi]."""
    rows = frame.loc[(frame["day"] > lo) & (frame["day"] <= hi)]
    return rows.groupby("customer_id", sort=False)[column].sum()


def features_at(
    tx: pd.DataFrame,
    cut: int,
    web: pd.DataFrame | None = None,
    texts: pd.DataFrame | None = None,
    min_rate_days: int = 30,
) -> pd.DataFrame:
    """One row per customer with a purchase on or before day ``cut``, indexed by
    customer_id: the FEATURES plus the BTYD summary (x repeat purchase days, t_x and T
    in days since the first purchase, mean_value per purchase day). ``web`` has
    customer_id, day, views, carts (per customer and day); ``texts`` customer_id, day,
    source (review or ticket), rating, sentiment_score."""
    hist = tx.loc[tx["day"] <= cut]
    bought = hist.loc[hist["purchases"] > 0]
    per = bought.groupby("customer_id", sort=True).agg(
        first=("day", "min"), last=("day", "max"), frequency=("day", "size"), gross=("gross", "sum")
    )
    if per.empty:
        return pd.DataFrame(columns=[*FEATURES, "x", "t_x", "T", "mean_value"], dtype="float64")
    totals = hist.groupby("customer_id", sort=False)[["net", "returned", "cancelled"]].sum().reindex(per.index)
    f = pd.DataFrame(index=per.index)
    f["recency_days"] = (cut - per["last"]).astype("float64")
    f["tenure_days"] = (cut - per["first"]).astype("float64")
    f["frequency"] = per["frequency"].astype("float64")
    f["monetary"] = totals["net"].fillna(0.0)
    f["avg_order_value"] = per["gross"] / per["frequency"]
    span = (per["last"] - per["first"]).astype("float64")
    repeat = per["frequency"] - 1
    f["mean_gap_days"] = (span / repeat.where(repeat > 0)).astype("float64")
    f["overdue_ratio"] = f["recency_days"] / f["mean_gap_days"].clip(lower=1.0)
    days = bought.assign(one=1)
    for name, lo, hi in (
        ("orders_30", cut - 30, cut),
        ("orders_90", cut - 90, cut),
        ("orders_prev_90", cut - 180, cut - 90),
    ):
        f[name] = _window_sum(days, "one", lo, hi).reindex(f.index).fillna(0).astype("float64")
    f["spend_90"] = _window_sum(hist, "net", cut - 90, cut).reindex(f.index).fillna(0.0)
    f["spend_rate"] = f["monetary"] / np.maximum(f["tenure_days"] + 1, min_rate_days)
    f["return_share"] = (totals["returned"] / per["gross"].where(per["gross"] > 0)).fillna(0.0).clip(0, 1)
    f["cancelled"] = totals["cancelled"].fillna(0).astype("float64")
    _web_features(f, web, cut)
    _text_features(f, texts, cut)
    f["x"] = repeat.astype("float64")
    f["t_x"] = span
    f["T"] = f["tenure_days"]
    f["mean_value"] = f["avg_order_value"]
    return f


def _web_features(f: pd.DataFrame, web: pd.DataFrame | None, cut: int) -> None:
    names = ("web_views_30", "web_carts_30", "web_days_90")
    if web is None or web.empty:
        for name in names:
            f[name] = 0.0
        f["web_recency_days"] = np.nan  # unknown: no web data, or never seen browsing
        return
    hist = web.loc[web["day"] <= cut]
    f["web_views_30"] = _window_sum(hist, "views", cut - 30, cut).reindex(f.index).fillna(0).astype("float64")
    f["web_carts_30"] = _window_sum(hist, "carts", cut - 30, cut).reindex(f.index).fillna(0).astype("float64")
    f["web_days_90"] = (
        _window_sum(hist.assign(one=1), "one", cut - 90, cut).reindex(f.index).fillna(0).astype("float64")
    )
    last = hist.groupby("customer_id", sort=False)["day"].max().reindex(f.index)
    f["web_recency_days"] = (cut - last).astype("float64")


def _text_features(f: pd.DataFrame, texts: pd.DataFrame | None, cut: int) -> None:
    if texts is None or texts.empty:
        f["avg_rating"] = np.nan
        f["avg_sentiment"] = np.nan
        f["tickets_90"] = 0.0
        return
    hist = texts.loc[texts["day"] <= cut]
    reviews = hist.loc[hist["source"] == "review"]
    f["avg_rating"] = reviews.groupby("customer_id", sort=False)["rating"].mean().reindex(f.index).astype("float64")
    f["avg_sentiment"] = (
        hist.groupby("customer_id", sort=False)["sentiment_score"].mean().reindex(f.index).astype("float64")
    )
    tickets = hist.loc[hist["source"] == "ticket"].assign(one=1)
    f["tickets_90"] = _window_sum(tickets, "one", cut - 90, cut).reindex(f.index).fillna(0).astype("float64")


def outcomes_after(tx: pd.DataFrame, cut: int, horizon: int, customers: pd.Index) -> pd.DataFrame:
    """What each of ``customers`` did in days (cut, cut + horizon]: bought (any
    purchase), orders (purchase days) and value (net spend)."""
    window = tx.loc[(tx["day"] > cut) & (tx["day"] <= cut + horizon)]
    orders = window.loc[window["purchases"] > 0].groupby("customer_id", sort=False)["day"].size()
    value = window.groupby("customer_id", sort=False)["net"].sum()
    out = pd.DataFrame(index=customers)
    out["orders"] = orders.reindex(customers).fillna(0).astype("float64")
    out["value"] = value.reindex(customers).fillna(0.0).astype("float64")
    out["bought"] = out["orders"] > 0
    return out

"""Interaction weights, and the user and item features LightFM is fitted with."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.models.recommend._baselines import decay
from cx.models.recommend._config import RecommendConfig

_TOKEN = re.compile(r"[a-z][a-z0-9]{2,}")


def interaction_weights(interactions: pd.DataFrame, reference: pd.Timestamp, cfg: RecommendConfig) -> pd.DataFrame:
    """Aggregate events into one positive weight per customer x product.

    Pairs whose net weight is not positive (e.g. bought then returned) are dropped.
    """
    kind = interactions["interaction_type"]
    base = kind.map(
        {
            "purchase": cfg.weight_purchase,
            "add_to_cart": cfg.weight_add_to_cart,
            "product_view": cfg.weight_product_view,
            "return": cfg.weight_return,
        }
    ).astype("float64")
    rating = pd.to_numeric(interactions.get("rating"), errors="coerce")
    base = base.where(kind != "rating", cfg.weight_rating * (rating - 3.0) / 2.0)
    weight = base.fillna(0.0).to_numpy() * decay(interactions["occurred_at"], reference, cfg.half_life_days)
    frame = pd.DataFrame(
        {"customer_id": interactions["customer_id"], "product_id": interactions["product_id"], "weight": weight}
    )
    agg = frame.groupby(["customer_id", "product_id"], as_index=False, sort=False, observed=True)["weight"].sum()
    return agg.loc[agg["weight"] > 0].reset_index(drop=True)


# ---------------------------------------------------------------------------- features


def _tenure_band(days: Any) -> str | None:
    if days is None or pd.isna(days):
        return None
    for limit, label in ((90, "<90d"), (365, "90-365d"), (730, "1-2y")):
        if days < limit:
            return label
    return "2y+"


def user_feature_lists(customers: pd.DataFrame, segments: pd.DataFrame | None) -> dict[str, list[tuple[str, float]]]:
    """customer_id -> [(feature, weight)] from segment, region, country, age band and tenure band."""
    frame = customers.drop_duplicates("customer_id")
    segment_of: dict[Any, Any] = {}
    if segments is not None and len(segments):
        first = segments.drop_duplicates("customer_id")
        segment_of = dict(zip(first["customer_id"], first["segment_name"], strict=False))
    columns = ("region", "country", "age_band", "tenure_days")
    values = {c: frame[c].tolist() if c in frame else [None] * len(frame) for c in columns}
    attributes = {cid: row for cid, *row in zip(frame["customer_id"], *(values[c] for c in columns), strict=False)}
    out: dict[str, list[tuple[str, float]]] = {}
    for cid in attributes.keys() | segment_of.keys():
        feats: list[tuple[str, float]] = []
        segment = segment_of.get(cid)
        if segment is not None and pd.notna(segment):
            feats.append((f"segment:{segment}", 1.0))
        if cid in attributes:
            *categorical, tenure = attributes[cid]
            feats.extend(
                (f"{col}:{value}", 1.0)
                for col, value in zip(columns, categorical, strict=False)
                if value is not None and pd.notna(value)
            )
            band = _tenure_band(tenure)
            if band:
                feats.append((f"tenure:{band}", 1.0))
        out[str(cid)] = feats
    return out


def item_feature_lists(products: pd.DataFrame, cfg: RecommendConfig) -> dict[str, list[tuple[str, float]]]:
    """product_id -> [(feature, weight)] from category, brand, price band and the tokens
    of name and description; the tokens share one unit of weight so a long description
    cannot drown the category."""
    price = (
        pd.to_numeric(products["price"], errors="coerce")
        if "price" in products
        else pd.Series(np.nan, index=products.index)
    )
    bands = pd.Series(pd.NA, index=products.index, dtype="object")
    valid = price.notna() & (price > 0)
    if valid.sum() >= cfg.price_bands:
        bands.loc[valid] = pd.qcut(price[valid].rank(method="first"), cfg.price_bands, labels=False).astype(str)

    text = pd.Series("", index=products.index, dtype="object")
    for col in ("name", "description"):
        if col in products:
            text = text + " " + products[col].fillna("").astype(str)
    docs = text.str.lower().map(lambda s: sorted(set(_TOKEN.findall(s))))
    df = pd.Series([t for tokens in docs for t in tokens], dtype="object").value_counts()
    # Tokens on 2+ items generalise; tokens on most items say nothing.
    useful = df[(df >= 2) & (df <= max(2, 0.5 * len(products)))].head(cfg.max_description_tokens)
    vocab = set(useful.index)

    out: dict[str, list[tuple[str, float]]] = {}
    for i, row in enumerate(products.itertuples(index=False)):
        feats: list[tuple[str, float]] = []
        for col in ("category", "brand"):
            value = getattr(row, col, None)
            if value is not None and pd.notna(value):
                feats.append((f"{col}:{value}", 1.0))
        band = bands.iloc[i]
        if band is not None and pd.notna(band):
            feats.append((f"price:{band}", 1.0))
        tokens = [t for t in docs.iloc[i] if t in vocab]
        feats.extend((f"tok:{t}", 1.0 / len(tokens)) for t in tokens)
        out[str(row.product_id)] = feats
    return out


def feature_matrix(
    ids: list[str], feature_lists: dict[str, list[tuple[str, float]]], warm: np.ndarray, feature_weight: float
) -> sparse.csr_matrix:
    """Rows normalised to sum 1: [identity (warm rows only) | shared features].

    A warm row is its identity plus its shared features scaled to ``feature_weight``
    in total; a cold row has no identity (an untrained identity embedding is noise),
    so cold customers and products are represented by their features alone.
    """
    vocab = sorted({name for feats in feature_lists.values() for name, _ in feats})
    col_of = {name: len(ids) + j for j, name in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, entity in enumerate(ids):
        feats = feature_lists.get(entity, [])
        total = sum(weight for _, weight in feats)
        scale = (feature_weight if warm[r] else 1.0) / total if total > 0 else 0.0
        if warm[r]:
            rows.append(r)
            cols.append(r)
            vals.append(1.0)
        for name, weight in feats:
            rows.append(r)
            cols.append(col_of[name])
            vals.append(weight * scale)
    mat = sparse.csr_matrix((np.asarray(vals, dtype="float32"), (rows, cols)), shape=(len(ids), len(ids) + len(vocab)))
    sums = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sparse.csr_matrix(sparse.diags(inv.astype("float32")) @ mat)

"""Personalised product recommendations: a LightFM hybrid blended with repeat purchases.

Pipeline (pure core :func:`recommend`, I/O in :func:`run`):

1. weight events by type and recency, aggregate per customer x product;
2. fit LightFM (WARP) with user features (segment, region, country, age band, tenure
   band) and item features (category, brand, price band, name and description tokens)
   on top of per-customer and per-product identities, so cold customers and new
   products are scored from their features;
3. blend the rank-normalised LightFM score with the customer's own purchase frequency
   and recency and the products' recent popularity; the blend weights are learned on a
   validation slice inside the training period (defaults in :class:`RecommendConfig`);
4. evaluate that whole procedure on a time-based holdout against two baselines computed
   identically (popularity; own past purchases then popularity) and publish the model
   only if it beats the best baseline on precision@k.

Validation, holdout and the published lists score candidates only (own items, LightFM's
top and the most popular; :func:`candidate_batches`), not every customer x product.

:func:`fit_recommender` is the one procedure that is evaluated, published and
benchmarked (``bench/recs_uci.py``). It is reproducible: the inputs are put in one row
order first (cx.row_order), seeds are fixed, each LightFM fit runs on one thread
(recommend_fits: fits run side by side instead), and ties rank by product_id
(recommend_topk); the day's recommender is also kept in ``models/recommend/<as_of>.pkl``.
"""

from __future__ import annotations

import logging
import pickle
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.config import Settings, load_settings
from cx.model_runs import OUTPUT_SCHEMA, Metric, write_model_runs
from cx.models.recommend_baselines import (
    DAY,
    PurchaseSignals,
    decay,
    index_positions,
    purchase_signals,
    repeat_then_popularity,
    scaled_popularity,
)
from cx.models.recommend_eval import evaluate_lists, holdout_test, lift_standard_error, precision_by_customer
from cx.models.recommend_fits import fit_model, run_side_by_side
from cx.models.recommend_topk import descending_order, top_n_lists
from cx.row_order import order_by_sql, sort_rows
from cx.warehouse import connect, read_df, read_large_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "recommendations"
VERSION_MODEL = "lightfm-hybrid-blend-v2"
VERSION_REPEAT = "baseline-repeat-pop-v2"
VERSION_POPULARITY = "baseline-popularity-v1"
BASELINES = ("popularity", "repeat_pop")  # the holdout metrics of the baselines the model must beat
OUTPUT_COLUMNS = ["customer_id", "rank", "product_id", "score", "model_version"]
INTERACTION_COLUMNS = ("customer_id", "product_id", "interaction_type", "occurred_at", "rating")  # and row order
BLEND_TERMS = ("frequency", "recency", "popularity", "lightfm")
_TOKEN = re.compile(r"[a-z][a-z0-9]{2,}")


@dataclass(frozen=True)
class RecommendConfig:
    """Hyperparameters of the stage; top_n, exclude_bought_days, holdout_days (and
    validation_days with it) and seed mirror cx.config.Settings."""

    top_n: int = 10
    eval_k: int = 10
    exclude_bought_days: int = 0
    holdout_days: int = 14
    seed: int = 42
    # Interaction weights: intent grows from view to cart to purchase; returns cancel.
    weight_purchase: float = 1.0
    weight_add_to_cart: float = 0.4
    weight_product_view: float = 0.1
    weight_rating: float = 0.5  # times (rating - 3) / 2, so 1-2 stars count against
    weight_return: float = -1.0
    half_life_days: float = 90.0
    popularity_half_life_days: float = 30.0
    # LightFM
    loss: str = "warp"
    no_components: int = 32
    epochs: int = 20
    # Work per fit is capped at this many interaction updates (epochs x distinct
    # customer-product pairs): a large shop gets fewer passes over more data, so a
    # fit costs about the same at 100k or 1M customers. UCI (~270k pairs) and the
    # demo keep all their epochs.
    max_pair_updates: int = 8_000_000
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    max_sampled: int = 10
    num_threads: int = 2  # fits side by side and scoring batches, never threads within a fit
    # Weight of a warm customer's or product's shared features relative to its own
    # identity: enough to place a cold one, too little to blur the warm ones together.
    feature_weight: float = 0.3
    # Blend (score = sum of weight x term, see blend_terms). Frequency is the anchor the
    # other weights are relative to; the rest are defaults, refined on validation when
    # learn_blend. Defaults chosen on UCI inside the training period (bench/recs_uci.py).
    blend_frequency: float = 1.0
    blend_recency: float = 0.1
    blend_popularity: float = 1.0
    blend_lightfm: float = 1.0
    recency_scale_days: float = 60.0
    learn_blend: bool = True
    blend_grid: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
    blend_rounds: int = 2
    # A weight moves off its default only for this much validation precision: smaller
    # gains on a few hundred customers are noise, and the defaults are already tuned.
    blend_min_gain: float = 0.002
    validation_days: int = 14
    min_validation_customers: int = 20
    max_validation_customers: int = 3000
    # Validation, holdout and publishing score only candidates: the customer's own items,
    # this many by LightFM and this many by popularity (see candidate_batches).
    candidates_per_source: int = 200
    # The LightFM term is the item's rank among all items: counted exactly in catalogues
    # up to this size, estimated on a fixed seeded sample of this many items beyond
    # (exact for LightFM's own top candidates either way).
    rank_sample_items: int = 2048
    # The holdout scores a fixed seeded sample of this many test customers when there
    # are more (about +-0.001 on p@10 at 20k customers).
    max_eval_customers: int = 20_000
    # The model is published only when its holdout p@k beats the best baseline's by more
    # than this many standard errors of the lift: a smaller lift is sampling noise (at
    # 1M customers the hybrid "won" by 0.000005, 0.04 standard errors, and that tie cost
    # a final fit and the scoring of every customer), and the baseline is the simpler one.
    gate_min_z: float = 2.0
    dense_block_rows: int = 64  # customers x all items scored at a time (kept in cache)
    # Features
    price_bands: int = 5
    max_description_tokens: int = 500
    batch_size: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RecommendConfig:
        base = cls(
            top_n=settings.recs_top_n,
            exclude_bought_days=settings.recs_exclude_bought_days,
            holdout_days=settings.recs_holdout_days,
            validation_days=settings.recs_holdout_days,
            seed=settings.seed,
        )
        return replace(base, **overrides)

    @property
    def blend_weights(self) -> np.ndarray:
        return np.array(
            [self.blend_frequency, self.blend_recency, self.blend_popularity, self.blend_lightfm],
            dtype="float32",
        )


@dataclass
class FittedRecommender:
    """A fitted LightFM model with the id mappings and feature matrices it needs."""

    model: Any
    user_ids: list[str]
    item_ids: list[str]
    user_features: sparse.csr_matrix
    item_features: sparse.csr_matrix
    trained_through: pd.Timestamp
    fit_seconds: float = 0.0
    user_index: dict[str, int] = field(init=False)
    item_index: dict[str, int] = field(init=False)
    _user_emb: np.ndarray = field(init=False, repr=False)
    _item_emb: np.ndarray = field(init=False, repr=False)
    _item_bias: np.ndarray = field(init=False, repr=False)
    _items_t: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {p: i for i, p in enumerate(self.item_ids)}
        _, user_emb = self.model.get_user_representations(self.user_features)
        self._item_bias, self._item_emb = self.model.get_item_representations(self.item_features)
        # [embedding | 1] @ [embedding | bias].T: the item bias comes with the one product.
        self._user_emb = np.hstack([user_emb, np.ones((len(user_emb), 1))]).astype("float32")
        self._items_t = np.ascontiguousarray(np.hstack([self._item_emb, self._item_bias[:, None]]).T, dtype="float32")

    def scores(self, users: np.ndarray) -> np.ndarray:
        """LightFM scores for a batch of user rows over all items (user bias omitted:
        it does not change a user's ranking)."""
        return self._user_emb[users] @ self._items_t


@dataclass
class Recommender:
    """The published model: LightFM and purchase signals as of ``reference``, blended."""

    lightfm: FittedRecommender
    signals: PurchaseSignals
    weights: np.ndarray  # one per BLEND_TERMS
    reference: pd.Timestamp
    cfg: RecommendConfig
    details: dict[str, Any] = field(default_factory=dict)

    def scores(self, users: np.ndarray) -> np.ndarray:
        terms = blend_terms(users, self.lightfm, self.signals, self.cfg)
        return np.tensordot(self.weights, terms, axes=1).astype("float32")

    def lightfm_only(self) -> Recommender:
        """The same fit with the blend switched off: plain LightFM, for comparison."""
        only = np.zeros(len(BLEND_TERMS), dtype="float32")
        only[BLEND_TERMS.index("lightfm")] = 1.0
        return replace(self, weights=only)

    @property
    def blend(self) -> dict[str, float]:
        return {name: round(float(w), 4) for name, w in zip(BLEND_TERMS, self.weights)}


@dataclass
class RecommendResult:
    recommendations: pd.DataFrame  # customer_id, rank, product_id, score, model_version
    model_version: str
    passed: bool
    metrics: dict[str, dict[str, float]]  # model, lightfm, popularity, repeat_pop -> metric -> value
    blend: dict[str, float]
    recommender: Recommender | None  # the fit that produced the lists (None for baselines)
    details: dict[str, Any]


# ---------------------------------------------------------------------------- weighting


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
        segment_of = dict(zip(first["customer_id"], first["segment_name"]))
    columns = ("region", "country", "age_band", "tenure_days")
    values = {c: frame[c].tolist() if c in frame else [None] * len(frame) for c in columns}
    attributes = {cid: row for cid, *row in zip(frame["customer_id"], *(values[c] for c in columns))}
    out: dict[str, list[tuple[str, float]]] = {}
    for cid in attributes.keys() | segment_of.keys():
        feats: list[tuple[str, float]] = []
        segment = segment_of.get(cid)
        if segment is not None and pd.notna(segment):
            feats.append((f"segment:{segment}", 1.0))
        if cid in attributes:
            *categorical, tenure = attributes[cid]
            feats.extend((f"{col}:{value}", 1.0) for col, value in zip(columns, categorical)
                         if value is not None and pd.notna(value))
            band = _tenure_band(tenure)
            if band:
                feats.append((f"tenure:{band}", 1.0))
        out[str(cid)] = feats
    return out


def item_feature_lists(products: pd.DataFrame, cfg: RecommendConfig) -> dict[str, list[tuple[str, float]]]:
    """product_id -> [(feature, weight)] from category, brand, price band and the tokens
    of name and description; the tokens share one unit of weight so a long description
    cannot drown the category."""
    price = pd.to_numeric(products["price"], errors="coerce") if "price" in products else pd.Series(np.nan, index=products.index)
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
    mat = sparse.csr_matrix(
        (np.asarray(vals, dtype="float32"), (rows, cols)), shape=(len(ids), len(ids) + len(vocab))
    )
    sums = np.asarray(mat.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sparse.csr_matrix(sparse.diags(inv.astype("float32")) @ mat)


# ---------------------------------------------------------------------------- fitting


def fit_lightfm(*args: Any) -> FittedRecommender:
    """LightFM on the events before ``reference`` (arguments of :func:`prepare_lightfm`)."""
    return prepare_lightfm(*args)()


def prepare_lightfm(
    interactions: pd.DataFrame,
    user_ids: list[str],
    item_ids: list[str],
    user_feats: dict[str, list[tuple[str, float]]],
    item_feats: dict[str, list[tuple[str, float]]],
    reference: pd.Timestamp,
    cfg: RecommendConfig,
) -> Callable[[], FittedRecommender]:
    """The data, features and model of a LightFM fit, and the fit itself to run (alone,
    or beside other fits on other threads: see recommend_fits)."""
    from lightfm import LightFM  # heavy import kept local to the stage

    started = time.perf_counter()
    columns = [c for c in ("customer_id", "product_id", "interaction_type", "occurred_at", "rating") if c in interactions]
    interactions = interactions.loc[interactions["occurred_at"] < reference, columns]
    weights = interaction_weights(interactions, reference, cfg)
    del interactions
    rows = index_positions(weights["customer_id"], {u: i for i, u in enumerate(user_ids)})
    cols = index_positions(weights["product_id"], {p: i for i, p in enumerate(item_ids)})
    known = (rows >= 0) & (cols >= 0)
    rows, cols, w = rows[known], cols[known], weights["weight"].to_numpy()[known]
    if len(rows) > cfg.max_pair_updates:
        # More pairs than one fit's budget: one pass over a fixed seeded sample of them.
        # A customer or product none of whose pairs is drawn stays cold (scored from its
        # features), as the warm flags below follow the pairs fitted.
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(rows), cfg.max_pair_updates, replace=False))
        rows, cols, w = rows[keep], cols[keep], w[keep]
    # Scale weights to mean 1 (keeps the learning rate meaningful) and cap heavy users.
    w = np.clip(w / w.mean(), 0.05, 10.0) if len(w) else w
    shape = (len(user_ids), len(item_ids))
    binary = sparse.coo_matrix((np.ones(len(rows), dtype="float32"), (rows, cols)), shape=shape)
    sample_weight = sparse.coo_matrix((w.astype("float32"), (rows, cols)), shape=shape)

    warm_users = np.zeros(len(user_ids), dtype=bool)
    warm_users[rows] = True
    warm_items = np.zeros(len(item_ids), dtype=bool)
    warm_items[cols] = True
    user_features = feature_matrix(user_ids, user_feats, warm_users, cfg.feature_weight)
    item_features = feature_matrix(item_ids, item_feats, warm_items, cfg.feature_weight)

    model = LightFM(
        no_components=cfg.no_components,
        loss=cfg.loss,
        learning_rate=cfg.learning_rate,
        item_alpha=cfg.item_alpha,
        user_alpha=cfg.user_alpha,
        max_sampled=cfg.max_sampled,
        random_state=np.random.RandomState(cfg.seed),
    )
    fit_args = {"interactions": binary, "user_features": user_features, "item_features": item_features,
                "sample_weight": sample_weight, "epochs": epochs_within_budget(len(rows), cfg)}  # one row per pair
    prepared = time.perf_counter() - started

    def fit() -> FittedRecommender:
        began = time.perf_counter()
        fit_model(model, fit_args)
        seconds = prepared + time.perf_counter() - began
        return FittedRecommender(model, user_ids, item_ids, user_features, item_features, reference, seconds)

    return fit


def epochs_within_budget(pairs: int, cfg: RecommendConfig) -> int:
    """cfg.epochs, fewer when epochs x pairs would exceed cfg.max_pair_updates (at least
    one; fit_lightfm samples the pairs down to the budget beyond that)."""
    return max(1, min(cfg.epochs, cfg.max_pair_updates // max(pairs, 1)))


# ---------------------------------------------------------------------------- blend


def count_greater(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row r, how many of ``ascending[r]`` (sorted ascending) exceed each ``values[r, j]``.
    One small searchsorted per row: its row stays in L1, cheaper than one global search."""
    width = ascending.shape[1]
    out = np.empty(values.shape, dtype=np.int64)
    for r in range(len(ascending)):
        out[r] = width - np.searchsorted(ascending[r], values[r], side="right")
    return out


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Per row: best item 1, worst 0, linear in rank (scale-free, unlike raw scores)."""
    n = scores.shape[1]
    order = descending_order(scores)
    out = np.empty_like(scores, dtype="float32")
    ladder = (1.0 - np.arange(n, dtype="float32") / max(n - 1, 1))[None, :]
    np.put_along_axis(out, order, np.broadcast_to(ladder, scores.shape), axis=1)
    return out


def blend_terms(
    users: np.ndarray, fitted: FittedRecommender, signals: PurchaseSignals, cfg: RecommendConfig
) -> np.ndarray:
    """The blend's terms for a batch of user rows, shape (len(BLEND_TERMS), users, items):

    frequency  log(1 + days the customer bought the item);
    recency    exp(-days since they last bought it / recency_scale_days), 0 if never;
    popularity log(1 + recency-weighted purchases of the item) over its maximum;
    lightfm    the LightFM score, rank-normalised per customer (1 best, 0 worst).

    Cold customers have only the last two, so they get popular items that fit their features.
    """
    frequency = np.log1p(signals.occasions[users].toarray())
    recency = recency_term(signals.last_age[users].toarray(), cfg)
    popularity = np.broadcast_to(popularity_term(signals), frequency.shape)
    lightfm = rank_normalise(fitted.scores(users))
    return np.stack([frequency, recency, popularity, lightfm]).astype("float32")


def popularity_term(signals: PurchaseSignals) -> np.ndarray:
    pop = np.log1p(signals.popularity)
    pop = pop / pop.max() if pop.size and pop.max() > 0 else pop
    return pop.astype("float32")


def recency_term(last_age: np.ndarray, cfg: RecommendConfig) -> np.ndarray:
    return np.where(last_age > 0, np.exp(-np.maximum(last_age - 1.0, 0.0) / cfg.recency_scale_days), 0.0)


# ---------------------------------------------------------------------------- candidates


@dataclass
class Candidates:
    """A batch of customers' candidate items with the blend's terms on them.

    Slot s of row r holds item ``items[r, s]``; only ``valid`` slots count: allowed,
    not bought recently, and the item's first slot in the row (sources overlap)."""

    users: np.ndarray  # (B,) user rows
    items: np.ndarray  # (B, W) item columns
    valid: np.ndarray  # (B, W)
    occasions: np.ndarray  # (B, W) days the customer bought the item, 0 if never
    terms: np.ndarray  # (len(BLEND_TERMS), B, W), as blend_terms defines them


CandidateScorer = Callable[[Candidates], np.ndarray]  # -> (B, W) scores of the slots


def rank_probe(n_items: int, cfg: RecommendConfig) -> np.ndarray:
    """Columns the LightFM rank is counted on: all items of a small catalogue, a fixed
    seeded sample of ``rank_sample_items`` in a large one."""
    if n_items <= cfg.rank_sample_items:
        return np.arange(n_items)
    return np.sort(np.random.default_rng(cfg.seed).choice(n_items, cfg.rank_sample_items, replace=False))


def top_columns(scores: np.ndarray, c: int, probe_sorted: np.ndarray) -> np.ndarray:
    """Exactly ``descending_order(scores)[:, :c]`` without sorting whole rows: only the
    columns at or above a per-row threshold read off the sorted probe (about 3c of them)
    are sorted; rows whose threshold misses (fewer than c, or ties by the thousand) fall
    back to a partition of the full row."""
    b, n = scores.shape
    if c >= n:
        return descending_order(scores)
    width = probe_sorted.shape[1]
    above = min(width, int(np.ceil(3 * c * width / n)))
    # 1-d flatnonzero: ~10x faster than 2-d nonzero; the counts come with it.
    r, col = np.divmod(np.flatnonzero(scores >= probe_sorted[:, width - above][:, None]), n)
    count = np.bincount(r, minlength=b)
    ok = (count >= c) & (count <= 12 * c)
    top = np.empty((b, c), dtype=np.int64)
    rows = np.flatnonzero(ok)
    if rows.size:
        if rows.size < b:
            keep = ok[r]
            r, col = np.searchsorted(rows, r[keep]), col[keep]
        counts = count[rows]
        pos = np.arange(r.size) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = np.zeros((rows.size, int(counts.max())), dtype=np.int64)
        vals = np.full(cols.shape, -np.inf, dtype="float32")
        cols[r, pos] = col
        vals[r, pos] = scores[rows[r], col]
        # Columns ascend within a row, so the stable order breaks ties by column as above.
        top[rows] = np.take_along_axis(cols, descending_order(vals)[:, :c], axis=1)
    bad = np.flatnonzero(~ok)
    if bad.size:
        part = np.sort(np.argpartition(-scores[bad], c - 1, axis=1)[:, :c], axis=1)
        order = descending_order(np.take_along_axis(scores[bad], part, axis=1))
        top[bad] = np.take_along_axis(part, order, axis=1)
    return top


def lightfm_rank_term(values: np.ndarray, top_values: np.ndarray, probe_sorted: np.ndarray, n: int) -> np.ndarray:
    """``rank_normalise`` of a row of n LightFM scores at the given ``values`` of it,
    without ranking the row: a value's rank is the number of items scoring higher,
    counted on the probe (exact when the probe holds all n items, else estimated, and at
    least len(top)) and exact among the row's top columns (``top_values``, best first).
    Tied items share a rank."""
    rank = count_greater(probe_sorted, values).astype("float32")
    c = top_values.shape[1]
    if probe_sorted.shape[1] < n and c:
        rank = np.maximum(rank * np.float32(n / probe_sorted.shape[1]), np.float32(c))
        r, j = np.nonzero(values >= top_values[:, -1:])  # few: own or popular items in the top
        if r.size:
            rank[r, j] = count_greater(top_values[r, ::-1], values[r, j][:, None])[:, 0]
    return (1.0 - rank / np.float32(max(n - 1, 1))).astype("float32")


def lightfm_candidates(
    fitted: FittedRecommender, users: np.ndarray, others: np.ndarray, c: int, probe: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LightFM's exact top c columns per user row (best first), their rank term, and the
    rank term at the ``others`` columns (B, k). Scores are made and used ``block`` rows
    at a time, so each block's users x items stay in cache rather than go to memory."""
    n = len(fitted.item_ids)
    top = np.empty((len(users), c), dtype=np.int64)
    other_term = np.empty(others.shape, dtype="float32")
    for start in range(0, len(users), block):
        part = slice(start, start + block)
        scores = fitted.scores(users[part])
        probe_sorted = np.sort(scores[:, probe], axis=1)
        top[part] = top_columns(scores, c, probe_sorted)
        top_values = np.take_along_axis(scores, top[part], axis=1)
        values = np.take_along_axis(scores, others[part], axis=1)
        other_term[part] = lightfm_rank_term(values, top_values, probe_sorted, n)
    # The top's own ranks are their positions (ties aside).
    top_term = np.broadcast_to((1.0 - np.arange(c, dtype="float32") / np.float32(max(n - 1, 1))), top.shape)
    return top, top_term, other_term


def candidate_batches(
    fitted: FittedRecommender | None,
    signals: PurchaseSignals,
    users: np.ndarray,
    allowed: np.ndarray,
    cfg: RecommendConfig,
) -> Iterator[Candidates]:
    """Candidates per batch of user rows: the customer's own past purchases, LightFM's
    top ``candidates_per_source`` and the most popular as many (no LightFM source when
    ``fitted`` is None, e.g. for a baseline). For any non-negative blend weights the top
    k are (almost always) among them, so validation, holdout and the published lists cost
    O(candidates) per customer after one LightFM matrix product, not a sort of the catalogue.
    Memory is batch_size x items."""
    n = allowed.size
    c = min(cfg.candidates_per_source, n)
    popular = np.argsort(-signals.popularity, kind="stable")[:c]
    pop_term = popularity_term(signals)
    probe = rank_probe(n, cfg)  # the probe's scores, sorted: LightFM's threshold and rank
    blocked_base = ~allowed

    def one(batch: np.ndarray) -> Candidates:
        return _batch_candidates(batch, fitted, signals, popular, pop_term, probe, blocked_base, c, cfg)

    starts = range(0, len(users), cfg.batch_size)
    batches = (np.asarray(users[start : start + cfg.batch_size]) for start in starts)
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    # BLAS on one thread whatever num_threads, so every score is computed the same way;
    # numpy releases the GIL in the matrix product, sorts and comparisons: batches run
    # on num_threads threads, a few ahead at most (each batch's result is its own).
    with threadpool_limits(1, user_api="blas"):
        if cfg.num_threads <= 1 or len(starts) <= 1:
            yield from map(one, batches)
            return
        with ThreadPoolExecutor(cfg.num_threads) as pool:
            pending: list[Any] = []
            for batch in batches:
                pending.append(pool.submit(one, batch))
                if len(pending) > cfg.num_threads:
                    yield pending.pop(0).result()
            for job in pending:
                yield job.result()


def _batch_candidates(
    batch: np.ndarray,
    fitted: FittedRecommender | None,
    signals: PurchaseSignals,
    popular: np.ndarray,
    pop_term: np.ndarray,
    probe: np.ndarray,
    blocked_base: np.ndarray,
    c: int,
    cfg: RecommendConfig,
) -> Candidates:
    """candidate_batches for one batch of user rows."""
    n = blocked_base.size
    b = len(batch)
    rows = np.arange(b)[:, None]
    # Own items: the nonzeros of the batch's purchase rows, left-aligned.
    occ = signals.occasions[batch]
    own_n = np.diff(occ.indptr)
    own_r = np.repeat(np.arange(b), own_n)
    own_pos = np.arange(occ.nnz) - np.repeat(occ.indptr[:-1], own_n)
    width_own = int(own_n.max()) if b else 0
    own_items = np.zeros((b, width_own), dtype=np.int64)
    own_items[own_r, own_pos] = occ.indices
    own_real = np.zeros((b, width_own), dtype=bool)
    own_real[own_r, own_pos] = True
    own_occ = np.zeros((b, width_own), dtype="float32")
    own_occ[own_r, own_pos] = occ.data
    own_last = np.zeros((b, width_own), dtype="float32")
    own_last[own_r, own_pos] = np.asarray(signals.last_age[batch][own_r, occ.indices]).ravel()

    # blocked: not allowed, bought recently, or already a candidate of this row.
    blocked = np.broadcast_to(blocked_base, (b, n)).copy()
    recent = signals.recent[batch]
    if recent.nnz:
        blocked[recent.nonzero()] = True
    parts_items, parts_valid = [own_items], [own_real & ~blocked[rows, own_items]]
    blocked[own_r, occ.indices] = True
    pop = np.broadcast_to(popular, (b, c))
    if fitted is not None:
        top, top_term, other_term = lightfm_candidates(
            fitted, batch, np.concatenate([own_items, pop], axis=1), c, probe, cfg.dense_block_rows
        )
        parts_items.append(top)
        parts_valid.append(~blocked[rows, top])
        blocked[rows, top] = True
    parts_items.append(pop)
    parts_valid.append(~blocked[:, popular])

    items = np.concatenate(parts_items, axis=1)
    valid = np.concatenate(parts_valid, axis=1)
    extra = items.shape[1] - width_own
    occasions = np.pad(own_occ, ((0, 0), (0, extra)))
    terms = np.zeros((len(BLEND_TERMS), b, items.shape[1]), dtype="float32")
    terms[0] = np.log1p(occasions)
    terms[1] = np.pad(recency_term(own_last, cfg), ((0, 0), (0, extra)))
    terms[2] = pop_term[items]
    if fitted is not None:
        terms[3] = np.concatenate([other_term[:, :width_own], top_term, other_term[:, width_own:]], axis=1)
    return Candidates(batch, items, valid, occasions, terms)


@dataclass
class _ValidationTable:
    """Per batch: candidate terms (terms, users, slots), whether a slot holds a
    candidate, and whether the customer bought it in the validation window."""

    terms: list[np.ndarray]
    valid: list[np.ndarray]
    bought: list[np.ndarray]
    n_users: int


def _validation_table(
    fitted: FittedRecommender,
    signals: PurchaseSignals,
    users: np.ndarray,
    bought: sparse.csr_matrix,
    allowed: np.ndarray,
    cfg: RecommendConfig,
) -> _ValidationTable:
    """The candidates' terms (see candidate_batches): the table stays small however
    large the catalogue."""
    table = _ValidationTable([], [], [], len(users))
    for cand in candidate_batches(fitted, signals, users, allowed, cfg):
        table.terms.append(cand.terms)
        table.valid.append(cand.valid)
        hit = bought[cand.users].toarray() > 0
        table.bought.append(np.take_along_axis(hit, cand.items, axis=1) & cand.valid)
    return table


def _precision(table: _ValidationTable, weights: np.ndarray, k: int) -> float:
    hits = 0
    for terms, valid, bought in zip(table.terms, table.valid, table.bought):
        score = np.where(valid, np.tensordot(weights, terms, axes=1), -np.inf)
        kk = min(k, score.shape[1])
        top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        hits += int(np.take_along_axis(bought, top, axis=1).sum())
    return hits / (k * max(table.n_users, 1))


def learn_blend(table: _ValidationTable, cfg: RecommendConfig) -> tuple[np.ndarray, float, float]:
    """Coordinate ascent on precision@k from the configured weights; frequency stays the
    anchor. A step is taken only when it gains at least ``blend_min_gain``, so noise
    keeps the defaults.

    Returns (weights, validation precision of the defaults, of the learned weights).
    """
    weights = cfg.blend_weights.copy()
    start = best = _precision(table, weights, cfg.eval_k)
    for _ in range(cfg.blend_rounds):
        improved = False
        for term in range(1, len(BLEND_TERMS)):
            candidate, candidate_p = weights, best
            for value in cfg.blend_grid:
                trial = weights.copy()
                trial[term] = value
                p = _precision(table, trial, cfg.eval_k)
                if p > candidate_p + 1e-12:
                    candidate, candidate_p = trial, p
            if candidate_p >= best + cfg.blend_min_gain:
                weights, best, improved = candidate, candidate_p, True
        if not improved:
            break
    return weights, start, best


# ---------------------------------------------------------------------------- fit


@dataclass
class _Universe:
    user_ids: list[str]
    item_ids: list[str]
    is_product: np.ndarray
    publishable: np.ndarray
    user_feats: dict[str, list[tuple[str, float]]]
    item_feats: dict[str, list[tuple[str, float]]]

    @property
    def product_ids(self) -> list[str]:
        return [p for p, ok in zip(self.item_ids, self.is_product) if ok]


def build_universe(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    segments: pd.DataFrame | None,
    cfg: RecommendConfig,
) -> _Universe:
    """Customers (CRM and interactions) and products with their features and flags."""
    products = sort_rows(products, ["product_id"]).drop_duplicates("product_id").reset_index(drop=True)
    seen = pd.Series(interactions["customer_id"].unique()).astype(str)
    user_ids = sorted(set(customers["customer_id"].dropna().astype(str)) | set(seen))
    is_product = products["is_product"].fillna(False).astype(bool).to_numpy()
    available = products["is_available"].fillna(False).astype(bool).to_numpy()
    return _Universe(
        user_ids=user_ids,
        item_ids=products["product_id"].astype(str).tolist(),
        is_product=is_product,
        publishable=is_product & available,
        user_feats=user_feature_lists(customers, segments),
        item_feats=item_feature_lists(products, cfg),
    )


def signals_at(interactions: pd.DataFrame, uni: _Universe, reference: pd.Timestamp, cfg: RecommendConfig) -> PurchaseSignals:
    """The purchase signals (both baselines' and the blend's) as of ``reference``."""
    return purchase_signals(
        interactions,
        {u: i for i, u in enumerate(uni.user_ids)},
        {p: i for i, p in enumerate(uni.item_ids)},
        reference,
        cfg.popularity_half_life_days,
        cfg.exclude_bought_days,
    )


LightFMCache = dict[pd.Timestamp, FittedRecommender]


def _lightfm_at(
    interactions: pd.DataFrame, uni: _Universe, reference: pd.Timestamp, cfg: RecommendConfig, cache: LightFMCache | None
) -> FittedRecommender:
    """LightFM on the events before ``reference``; the cache (one per interactions
    frame) lets the holdout and the final fit share the fit they have in common."""
    cache = {} if cache is None else cache
    _fit_lightfm_at(interactions, uni, [reference], cfg, cache)
    return cache[reference]


def _fit_lightfm_at(
    interactions: pd.DataFrame, uni: _Universe, references: list[pd.Timestamp], cfg: RecommendConfig, cache: LightFMCache
) -> None:
    """Into the cache: LightFM at each reference it lacks, prepared one after the other
    and fitted side by side on ``num_threads`` threads (one thread per fit)."""
    todo = [r for r in dict.fromkeys(references) if r not in cache]
    jobs = [prepare_lightfm(interactions, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, r, cfg)
            for r in todo]
    cache.update(zip(todo, run_side_by_side(jobs, cfg.num_threads)))


def fit_recommender(
    interactions: pd.DataFrame,
    uni: _Universe,
    reference: pd.Timestamp,
    cfg: RecommendConfig,
    cache: LightFMCache | None = None,
) -> Recommender:
    """The published procedure, using only events before ``reference``:

    1. if ``learn_blend``: fit LightFM on the events before ``reference - validation_days``
       and learn the blend weights on the purchases of the following ``validation_days``
       (customers known by then, products only); too few such customers keep the defaults;
    2. fit LightFM on all events before ``reference`` and compute the purchase signals.
    """
    # Every step below reads only the events before its own cutoff (<= reference), so the
    # frame is not copied here: at 1M customers each copy is over a GB.
    details: dict[str, Any] = {"reference": str(reference)}
    weights = cfg.blend_weights
    cache = {} if cache is None else cache
    if cfg.learn_blend and cfg.validation_days > 0:
        val_cutoff = reference - cfg.validation_days * DAY
        val = holdout_test(interactions, uni.product_ids, val_cutoff, end=reference)
        customers = np.array(sorted(val["customer_id"].unique()), dtype=object)
        if len(customers) >= cfg.min_validation_customers:
            if len(customers) > cfg.max_validation_customers:
                rng = np.random.default_rng(cfg.seed)
                customers = np.sort(rng.choice(customers, cfg.max_validation_customers, replace=False))
            _fit_lightfm_at(interactions, uni, [val_cutoff, reference], cfg, cache)  # both fits, side by side
            val_fit = _lightfm_at(interactions, uni, val_cutoff, cfg, cache)
            val_signals = signals_at(interactions, uni, val_cutoff, cfg)
            users = np.array([val_fit.user_index[c] for c in customers], dtype=np.int64)
            val = val.loc[val["customer_id"].isin(set(customers))]
            bought = sparse.csr_matrix(
                (
                    np.ones(len(val), dtype="float32"),
                    (index_positions(val["customer_id"], val_fit.user_index),
                     index_positions(val["product_id"], val_fit.item_index)),
                ),
                shape=(len(uni.user_ids), len(uni.item_ids)),
            )
            table = _validation_table(val_fit, val_signals, users, bought, uni.is_product, cfg)
            weights, p_default, p_learned = learn_blend(table, cfg)
            details.update(
                {
                    "validation_cutoff": str(val_cutoff),
                    "validation_customers": len(users),
                    "validation_precision_defaults": round(p_default, 4),
                    "validation_precision_learned": round(p_learned, 4),
                }
            )
        else:
            details["validation"] = f"{len(customers)} validation customers; default blend weights"
    fitted = _lightfm_at(interactions, uni, reference, cfg, cache)
    signals = signals_at(interactions, uni, reference, cfg)
    recommender = Recommender(fitted, signals, np.asarray(weights, dtype="float32"), reference, cfg, details)
    details["blend"] = recommender.blend
    return recommender


# ---------------------------------------------------------------------------- lists


def baseline_scorers(signals: PurchaseSignals) -> dict[str, CandidateScorer]:
    pop = scaled_popularity(signals)
    return {
        "popularity": lambda cand: pop[cand.items],
        "repeat_pop": lambda cand: repeat_then_popularity(cand.occasions, pop[cand.items]),
    }


# ---------------------------------------------------------------------------- core


def blend_scorer(weights: np.ndarray) -> CandidateScorer:
    return lambda cand: np.tensordot(weights, cand.terms, axes=1)


def method_scorers(model: Recommender) -> dict[str, CandidateScorer]:
    """The published model, plain LightFM from the same fit, and both baselines."""
    return {
        "model": blend_scorer(model.weights),
        "lightfm": blend_scorer(model.lightfm_only().weights),
        **baseline_scorers(model.signals),
    }


def eval_customers(test: pd.DataFrame, cfg: RecommendConfig) -> np.ndarray:
    """The test customers, or a fixed seeded sample of ``max_eval_customers`` of them."""
    customers = np.array(sorted(test["customer_id"].unique()), dtype=object)
    if len(customers) > cfg.max_eval_customers:
        rng = np.random.default_rng(cfg.seed)
        customers = np.sort(rng.choice(customers, cfg.max_eval_customers, replace=False))
    return customers


def holdout_metrics(
    model: Recommender, uni: _Universe, test: pd.DataFrame, cfg: RecommendConfig
) -> dict[str, dict[str, float]]:
    """Every method's top-k lists for the test customers (products only, the exclusion
    window applied) scored against their purchases in the test window."""
    customers = eval_customers(test, cfg)
    test = test.loc[test["customer_id"].isin(set(customers))]
    users = np.array(sorted(model.lightfm.user_index[u] for u in customers), dtype=np.int64)
    batches = candidate_batches(model.lightfm, model.signals, users, uni.is_product, cfg)
    lists = top_n_lists(method_scorers(model), batches, uni.user_ids, uni.item_ids, cfg.eval_k)
    metrics = {name: evaluate_lists(recs, test, int(uni.is_product.sum()), cfg.eval_k) for name, recs in lists.items()}
    # The gate's yardstick: how much the model's lift over each baseline would vary
    # with another sample of customers (paired: the same customers, both methods).
    model_precision = precision_by_customer(lists["model"], test, cfg.eval_k)
    for name in BASELINES:
        baseline_precision = precision_by_customer(lists[name], test, cfg.eval_k)
        metrics["model"][f"lift_se:{name}"] = lift_standard_error(model_precision, baseline_precision)
    return metrics


def evaluate_holdout(
    interactions: pd.DataFrame,
    uni: _Universe,
    cutoff: pd.Timestamp,
    cfg: RecommendConfig,
    cache: LightFMCache | None = None,
) -> tuple[dict[str, dict[str, float]], Recommender | None]:
    """Fit the recommender and the baselines on the events before ``cutoff`` and score
    them all on the later purchases of known customers (products only).

    Returns metrics keyed by 'model', 'lightfm' (plain LightFM, same fit),
    'popularity' and 'repeat_pop', and the fitted recommender.
    """
    test = holdout_test(interactions, uni.product_ids, cutoff)
    if test.empty:  # (no test customer without training events: they must be seen before)
        return {}, None
    model = fit_recommender(interactions, uni, cutoff, cfg, cache)
    return holdout_metrics(model, uni, test, cfg), model


def gate(
    model: dict[str, float] | None, baselines: dict[str, dict[str, float]], min_z: float = 0.0
) -> tuple[str, bool, str]:
    """Pick what to publish: (model_version, passed, best baseline name).

    The model must beat the best baseline on precision@k, by more than ``min_z``
    standard errors of its lift (``model["lift_se:<baseline>"]``, see holdout_metrics)
    when ``min_z`` > 0; a tie or a lift within the noise goes to the simpler baseline.
    """
    best = max(baselines, key=lambda name: (baselines[name]["precision"], name == "repeat_pop"))
    fallback = VERSION_REPEAT if best == "repeat_pop" else VERSION_POPULARITY
    if model is None:
        return fallback, False, best
    lift = model["precision"] - baselines[best]["precision"]
    if lift > 0 and (min_z <= 0 or lift > min_z * model.get(f"lift_se:{best}", 0.0)):
        return VERSION_MODEL, True, best
    return fallback, False, best


def recommend(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    segments: pd.DataFrame | None,
    as_of: date,
    cfg: RecommendConfig,
) -> RecommendResult:
    """Evaluate the procedure on the holdout, gate, and score all customers with the
    winner refitted on everything up to ``as_of``."""
    end = pd.Timestamp(as_of) + DAY
    columns = [c for c in INTERACTION_COLUMNS if c in interactions]
    interactions = interactions.loc[interactions["occurred_at"] < end, columns]
    # Categorical ids and types: a tenth of the memory of strings, and every id lookup
    # below is done once per category instead of once per event.
    for col in ("customer_id", "product_id", "interaction_type"):
        interactions[col] = _categorical_str(interactions[col])
    interactions = sort_rows(interactions, columns)  # one row order, however the rows came (cx.row_order)
    customers, segments = (None if f is None else sort_rows(f, ["customer_id"]) for f in (customers, segments))
    uni = build_universe(interactions, products, customers, segments, cfg)
    interactions = interactions.loc[interactions["product_id"].isin(set(uni.item_ids))]
    test_cutoff = end - cfg.holdout_days * DAY
    details: dict[str, Any] = {"test_cutoff": str(test_cutoff)}
    cache: LightFMCache = {}

    metrics, holdout_model = evaluate_holdout(interactions, uni, test_cutoff, cfg, cache)
    if metrics:
        version, passed, best = gate(metrics["model"], {k: metrics[k] for k in BASELINES}, cfg.gate_min_z)
        details["gate"] = {
            "lift": metrics["model"]["precision"] - metrics[best]["precision"],
            "lift_standard_error": metrics["model"].get(f"lift_se:{best}"),
            "min_z": cfg.gate_min_z,
        }
        details["holdout_fit"] = holdout_model.details if holdout_model else {}
    else:
        version, passed, best = VERSION_REPEAT, False, "repeat_pop"
        details["holdout"] = "no holdout purchases by known customers; publishing the baseline"

    recommender: Recommender | None = None
    users = np.arange(len(uni.user_ids))
    if version == VERSION_MODEL:
        recommender = fit_recommender(interactions, uni, end, cfg, cache)
        signals = recommender.signals
        batches = candidate_batches(recommender.lightfm, signals, users, uni.publishable, cfg)
        scorer = blend_scorer(recommender.weights)
        details["final_fit"] = recommender.details
    else:
        signals = signals_at(interactions, uni, end, cfg)
        batches = candidate_batches(None, signals, users, uni.publishable, cfg)
        scorer = baseline_scorers(signals)[best]
    recs = top_n_lists({version: scorer}, batches, uni.user_ids, uni.item_ids, cfg.top_n)[version]
    recs["model_version"] = version
    blend = recommender.blend if recommender else (holdout_model.blend if holdout_model else {})
    details["best_baseline"] = best
    metrics = {name: metrics.get(name, {}) for name in ("model", "lightfm", *BASELINES)}
    return RecommendResult(recs[OUTPUT_COLUMNS], version, passed, metrics, blend, recommender, details)


def _categorical_str(values: pd.Series) -> pd.Series:
    """The column as a categorical of strings (ids may arrive as numbers)."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    if not all(isinstance(c, str) for c in cat.cat.categories):
        cat = cat.astype(str).astype("category")
    return cat


def result_metrics(result: RecommendResult, k: int) -> list[Metric]:
    """model_runs rows: the model's holdout metrics against the best baseline's."""
    best = result.details["best_baseline"]
    rows = []
    for key, name in (("precision", f"p@{k}"), ("recall", f"recall@{k}"), ("ndcg", f"ndcg@{k}"), ("coverage", "coverage")):
        value = result.metrics["model"].get(key)
        base = result.metrics[best].get(key)
        detail = {
            "popularity": result.metrics["popularity"].get(key),
            "repeat_pop": result.metrics["repeat_pop"].get(key),
            "plain_lightfm": result.metrics["lightfm"].get(key),
            "best_baseline": best,
            "blend": result.blend,
            "published": result.model_version,
        }
        # Coverage is reported for context; the gate is precision, as documented.
        passed = result.passed if key == "precision" else (None if value is None or base is None else value > base)
        rows.append(Metric(name, value, base, passed, detail))
    return rows


# ---------------------------------------------------------------------------- I/O


def _read_inputs(con: Any, as_of: date) -> dict[str, pd.DataFrame | None]:
    end = pd.Timestamp(as_of) + DAY
    frames: dict[str, pd.DataFrame | None] = {
        "interactions": read_large_df(
            con,
            f"select {', '.join(INTERACTION_COLUMNS)} from marts.fct_interactions "
            f"where occurred_at < ? and customer_id is not null {order_by_sql(INTERACTION_COLUMNS)}",
            [end.to_pydatetime()],
            categorical=("customer_id", "product_id", "interaction_type"),
        ),
        "products": read_df(con, "select * from marts.dim_products"),
        "customers": read_df(con, "select * from marts.dim_customers")
        if table_exists(con, "dim_customers", "marts")
        else pd.DataFrame(columns=["customer_id"]),
        "segments": None,
    }
    if table_exists(con, "customer_segments", OUTPUT_SCHEMA):
        frames["segments"] = read_df(
            con, f"select customer_id, segment_name from {OUTPUT_SCHEMA}.customer_segments where as_of_date = ?", [as_of],
            order_by=["customer_id"],
        )
    return frames


def run(as_of: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    cfg = RecommendConfig.from_settings(settings)
    started = time.monotonic()
    with connect(settings) as con:
        if not (table_exists(con, "fct_interactions", "marts") and table_exists(con, "dim_products", "marts")):
            log.info("recommendations skipped: marts.fct_interactions or marts.dim_products missing")
            return {"skipped": "marts.fct_interactions or marts.dim_products missing"}
        frames = _read_inputs(con, as_of)
    interactions = frames["interactions"]
    assert interactions is not None and frames["products"] is not None and frames["customers"] is not None
    if interactions.empty:
        log.info("recommendations skipped: no interactions up to %s", as_of)
        return {"skipped": f"no interactions up to {as_of}"}
    interactions["occurred_at"] = pd.to_datetime(interactions["occurred_at"])

    result = recommend(interactions, frames["products"], frames["customers"], frames["segments"], as_of, cfg)

    path = settings.models_dir / "recommend" / f"{as_of}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(
            {
                "model_version": result.model_version,
                "recommender": result.recommender,
                "blend": result.blend,
                "config": cfg,
                "metrics": result.metrics,
                "details": result.details,
            },
            handle,
        )
    metrics = result_metrics(result, cfg.eval_k)
    with connect(settings) as con:
        written = replace_partition(con, "customer_recommendations", result.recommendations, as_of,
                                    schema=OUTPUT_SCHEMA)
        write_model_runs(con, MODEL_NAME, result.model_version, metrics, as_of)
    summary = {
        "rows": written,
        "customers": int(result.recommendations["customer_id"].nunique()),
        "model_version": result.model_version,
        "passed": result.passed,
        "blend": result.blend,
        **{m.metric: m.value for m in metrics},
        "baseline_p@k": metrics[0].baseline_value,
        "plain_lightfm_p@k": result.metrics["lightfm"].get("precision"),
        "artifact": str(path),
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info("recommendations %s", summary)
    return summary

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

:func:`fit_recommender` is the one procedure that is evaluated, published and
benchmarked (``bench/recs_uci.py``). Seeds are fixed, but LightFM's SGD on two threads
is not bit-for-bit repeatable, so the day's fitted recommender is kept in its artefact
(``models/recommend/<as_of>.pkl``) to reproduce that day's lists.
"""

from __future__ import annotations

import logging
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cx.config import Settings, load_settings
from cx.model_runs import Metric, write_model_runs
from cx.models.recommend_baselines import (
    DAY,
    PurchaseSignals,
    decay,
    popularity_scores,
    purchase_signals,
    repeat_then_popularity_scores,
)
from cx.models.recommend_eval import evaluate_lists, holdout_split
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "recommendations"
VERSION_MODEL = "lightfm-hybrid-blend-v2"
VERSION_REPEAT = "baseline-repeat-pop-v2"
VERSION_POPULARITY = "baseline-popularity-v1"
OUTPUT_COLUMNS = ["customer_id", "rank", "product_id", "score", "model_version"]
BLEND_TERMS = ("frequency", "recency", "popularity", "lightfm")
_TOKEN = re.compile(r"[a-z][a-z0-9]{2,}")

Scorer = Callable[[np.ndarray], np.ndarray]


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
    num_threads: int = 2
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
    candidates_per_source: int = 200  # validation scores own items + this many by LightFM + by popularity
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

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {p: i for i, p in enumerate(self.item_ids)}
        _, self._user_emb = self.model.get_user_representations(self.user_features)
        self._item_bias, self._item_emb = self.model.get_item_representations(self.item_features)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """LightFM scores for a batch of user rows over all items (user bias omitted:
        it does not change a user's ranking)."""
        return (self._user_emb[users] @ self._item_emb.T + self._item_bias).astype("float32")


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
    agg = frame.groupby(["customer_id", "product_id"], as_index=False, sort=False)["weight"].sum()
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


def fit_lightfm(
    interactions: pd.DataFrame,
    user_ids: list[str],
    item_ids: list[str],
    user_feats: dict[str, list[tuple[str, float]]],
    item_feats: dict[str, list[tuple[str, float]]],
    reference: pd.Timestamp,
    cfg: RecommendConfig,
) -> FittedRecommender:
    """LightFM on the events before ``reference``."""
    from lightfm import LightFM  # heavy import kept local to the stage

    started = time.perf_counter()
    interactions = interactions.loc[interactions["occurred_at"] < reference]
    user_index = {u: i for i, u in enumerate(user_ids)}
    item_index = {p: i for i, p in enumerate(item_ids)}
    weights = interaction_weights(interactions, reference, cfg)
    weights = weights.loc[weights["customer_id"].isin(user_index) & weights["product_id"].isin(item_index)]
    rows = weights["customer_id"].map(user_index).to_numpy()
    cols = weights["product_id"].map(item_index).to_numpy()
    # Scale weights to mean 1 (keeps the learning rate meaningful) and cap heavy users.
    w = weights["weight"].to_numpy()
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
    model.fit(
        binary,
        user_features=user_features,
        item_features=item_features,
        sample_weight=sample_weight,
        epochs=epochs_within_budget(len(rows), cfg),  # one row per customer-product pair
        num_threads=cfg.num_threads,
    )
    seconds = time.perf_counter() - started
    return FittedRecommender(model, user_ids, item_ids, user_features, item_features, reference, seconds)


def epochs_within_budget(pairs: int, cfg: RecommendConfig) -> int:
    """cfg.epochs, fewer when epochs x pairs would exceed cfg.max_pair_updates (at least one)."""
    return max(1, min(cfg.epochs, cfg.max_pair_updates // max(pairs, 1)))


# ---------------------------------------------------------------------------- blend


_INDEX_BITS = 20


def descending_order(scores: np.ndarray) -> np.ndarray:
    """``np.argsort(-scores, axis=1, kind="stable")`` for float scores, about 3x faster:
    each score's order-preserving bits and its column form one unique int64 key, so
    numpy's quicksort returns the stable order (ties by column)."""
    n = scores.shape[1]
    if n >= 1 << _INDEX_BITS:
        return np.argsort(-scores, axis=1, kind="stable")
    bits = (-scores.astype("float32") + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0: -0.0 == 0.0
    ordered = np.where(bits < 0, ~bits & 0xFFFFFFFF, bits | 0x80000000)  # unsigned, monotone in the float
    keys = np.sort((ordered << _INDEX_BITS) | np.arange(n, dtype=np.int64), axis=1)
    return keys & ((1 << _INDEX_BITS) - 1)


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
    last = signals.last_age[users].toarray()
    recency = np.where(last > 0, np.exp(-np.maximum(last - 1.0, 0.0) / cfg.recency_scale_days), 0.0)
    pop = np.log1p(signals.popularity)
    pop = pop / pop.max() if pop.size and pop.max() > 0 else pop
    popularity = np.broadcast_to(pop.astype("float32"), frequency.shape)
    lightfm = rank_normalise(fitted.scores(users))
    return np.stack([frequency, recency, popularity, lightfm]).astype("float32")


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
    """Candidates are the customer's own past items, LightFM's top and the most popular
    items: for any non-negative weights the top k are (almost always) among them, and
    the table stays small however large the catalogue."""
    n_items = allowed.size
    c = min(cfg.candidates_per_source, n_items)
    popular = np.argsort(-signals.popularity, kind="stable")[:c]
    table = _ValidationTable([], [], [], len(users))
    for start in range(0, len(users), cfg.batch_size):
        batch = users[start : start + cfg.batch_size]
        terms = blend_terms(batch, fitted, signals, cfg)
        mask = terms[0] > 0
        top = np.argpartition(-terms[BLEND_TERMS.index("lightfm")], c - 1, axis=1)[:, :c]
        np.put_along_axis(mask, top, True, axis=1)
        mask[:, popular] = True
        mask &= allowed[None, :]
        recent = signals.recent[batch]
        if recent.nnz:
            r, col = recent.nonzero()
            mask[r, col] = False
        width = max(int(mask.sum(axis=1).max()), 1)
        slots = np.argsort(~mask, axis=1, kind="stable")[:, :width]
        table.terms.append(np.stack([np.take_along_axis(t, slots, axis=1) for t in terms]))
        valid = np.take_along_axis(mask, slots, axis=1)
        table.valid.append(valid)
        table.bought.append(np.take_along_axis(bought[batch].toarray() > 0, slots, axis=1) & valid)
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
    products = products.drop_duplicates("product_id").sort_values("product_id").reset_index(drop=True)
    user_ids = sorted(set(customers["customer_id"].dropna().astype(str)) | set(interactions["customer_id"].astype(str)))
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
    if cache is not None and reference in cache:
        return cache[reference]
    fitted = fit_lightfm(interactions, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, reference, cfg)
    if cache is not None:
        cache[reference] = fitted
    return fitted


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
    interactions = interactions.loc[interactions["occurred_at"] < reference]
    details: dict[str, Any] = {"reference": str(reference)}
    weights = cfg.blend_weights
    if cfg.learn_blend and cfg.validation_days > 0:
        val_cutoff = reference - cfg.validation_days * DAY
        train, val = holdout_split(interactions, uni.product_ids, val_cutoff)
        customers = np.array(sorted(val["customer_id"].unique()), dtype=object)
        if len(customers) >= cfg.min_validation_customers and not train.empty:
            if len(customers) > cfg.max_validation_customers:
                rng = np.random.default_rng(cfg.seed)
                customers = np.sort(rng.choice(customers, cfg.max_validation_customers, replace=False))
            val_fit = _lightfm_at(interactions, uni, val_cutoff, cfg, cache)
            val_signals = signals_at(train, uni, val_cutoff, cfg)
            users = np.array([val_fit.user_index[c] for c in customers], dtype=np.int64)
            val = val.loc[val["customer_id"].isin(set(customers))]
            bought = sparse.csr_matrix(
                (
                    np.ones(len(val), dtype="float32"),
                    (val["customer_id"].map(val_fit.user_index), val["product_id"].map(val_fit.item_index)),
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


def top_n_lists(
    scorer: Scorer,
    users: np.ndarray,
    user_ids: list[str],
    item_ids: list[str],
    recent: sparse.csr_matrix,
    candidates: np.ndarray,
    n: int,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Top-n per user row in batches (memory is batch_size x n_items), with the
    business rules applied: only ``candidates`` and nothing in ``recent``."""
    items = np.asarray(item_ids, dtype=object)
    uids = np.asarray(user_ids, dtype=object)
    n_eff = int(min(n, candidates.sum()))
    frames: list[pd.DataFrame] = []
    if n_eff == 0 or len(users) == 0:
        return pd.DataFrame({"customer_id": pd.Series(dtype="object"), "rank": pd.Series(dtype="int32"),
                             "product_id": pd.Series(dtype="object"), "score": pd.Series(dtype="float64")})
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = np.array(scorer(batch), dtype="float32")
        scores[:, ~candidates] = -np.inf
        batch_recent = recent[batch]
        if batch_recent.nnz:
            r, c = batch_recent.nonzero()
            scores[r, c] = -np.inf
        top = np.argpartition(-scores, n_eff - 1, axis=1)[:, :n_eff]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        keep = np.isfinite(top_scores)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": np.repeat(uids[batch], n_eff)[keep.ravel()],
                    "rank": np.tile(np.arange(1, n_eff + 1), len(batch))[keep.ravel()],
                    "product_id": items[top][keep],
                    "score": top_scores[keep].astype("float64"),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    # Re-rank after dropping excluded slots so ranks stay 1..k without gaps.
    out["rank"] = out.groupby("customer_id").cumcount() + 1
    return out.astype({"rank": "int32"})


def baseline_scorers(signals: PurchaseSignals) -> dict[str, Scorer]:
    return {
        "popularity": lambda users: popularity_scores(signals, len(users)),
        "repeat_pop": lambda users: repeat_then_popularity_scores(signals, users),
    }


# ---------------------------------------------------------------------------- core


def method_scorers(model: Recommender) -> dict[str, Scorer]:
    """The published model, plain LightFM from the same fit, and both baselines."""
    return {"model": model.scores, "lightfm": model.lightfm_only().scores, **baseline_scorers(model.signals)}


def holdout_metrics(
    model: Recommender, uni: _Universe, test: pd.DataFrame, cfg: RecommendConfig
) -> dict[str, dict[str, float]]:
    """Every method's top-k lists for the test customers (products only, the exclusion
    window applied) scored against their purchases in the test window."""
    users = np.array(sorted(model.lightfm.user_index[u] for u in test["customer_id"].unique()), dtype=np.int64)
    metrics = {}
    for name, scorer in method_scorers(model).items():
        recs = top_n_lists(
            scorer, users, uni.user_ids, uni.item_ids, model.signals.recent, uni.is_product, cfg.eval_k, cfg.batch_size
        )
        metrics[name] = evaluate_lists(recs, test, int(uni.is_product.sum()), cfg.eval_k)
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
    train, test = holdout_split(interactions, uni.product_ids, cutoff)
    if test.empty or train.empty:
        return {}, None
    model = fit_recommender(interactions, uni, cutoff, cfg, cache)
    return holdout_metrics(model, uni, test, cfg), model


def gate(model: dict[str, float] | None, baselines: dict[str, dict[str, float]]) -> tuple[str, bool, str]:
    """Pick what to publish: (model_version, passed, best baseline name).

    The model must strictly beat the best baseline on precision@k; a tie goes to
    the simpler baseline.
    """
    best = max(baselines, key=lambda name: (baselines[name]["precision"], name == "repeat_pop"))
    fallback = VERSION_REPEAT if best == "repeat_pop" else VERSION_POPULARITY
    if model is None:
        return fallback, False, best
    if model["precision"] > baselines[best]["precision"]:
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
    interactions = interactions.loc[interactions["occurred_at"] < end].copy()
    interactions["customer_id"] = interactions["customer_id"].astype(str)
    interactions["product_id"] = interactions["product_id"].astype(str)
    uni = build_universe(interactions, products, customers, segments, cfg)
    interactions = interactions.loc[interactions["product_id"].isin(set(uni.item_ids))]
    test_cutoff = end - cfg.holdout_days * DAY
    details: dict[str, Any] = {"test_cutoff": str(test_cutoff)}
    cache: LightFMCache = {}

    metrics, holdout_model = evaluate_holdout(interactions, uni, test_cutoff, cfg, cache)
    if metrics:
        version, passed, best = gate(metrics["model"], {k: metrics[k] for k in ("popularity", "repeat_pop")})
        details["holdout_fit"] = holdout_model.details if holdout_model else {}
    else:
        version, passed, best = VERSION_REPEAT, False, "repeat_pop"
        details["holdout"] = "no holdout purchases by known customers; publishing the baseline"

    recommender: Recommender | None = None
    if version == VERSION_MODEL:
        recommender = fit_recommender(interactions, uni, end, cfg, cache)
        scorer: Scorer = recommender.scores
        signals = recommender.signals
        details["final_fit"] = recommender.details
    else:
        signals = signals_at(interactions, uni, end, cfg)
        scorer = baseline_scorers(signals)[best]
    recs = top_n_lists(
        scorer, np.arange(len(uni.user_ids)), uni.user_ids, uni.item_ids, signals.recent, uni.publishable,
        cfg.top_n, cfg.batch_size,
    )
    recs["model_version"] = version
    blend = recommender.blend if recommender else (holdout_model.blend if holdout_model else {})
    details["best_baseline"] = best
    metrics = {name: metrics.get(name, {}) for name in ("model", "lightfm", "popularity", "repeat_pop")}
    return RecommendResult(recs[OUTPUT_COLUMNS], version, passed, metrics, blend, recommender, details)


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
        "interactions": read_df(
            con,
            "select customer_id, product_id, interaction_type, occurred_at, quantity, rating "
            "from marts.fct_interactions where occurred_at < ? and customer_id is not null",
            [end.to_pydatetime()],
        ),
        "products": read_df(con, "select * from marts.dim_products"),
        "customers": read_df(con, "select * from marts.dim_customers")
        if table_exists(con, "dim_customers", "marts")
        else pd.DataFrame(columns=["customer_id"]),
        "segments": None,
    }
    if table_exists(con, "customer_segments", "main"):
        frames["segments"] = read_df(
            con, "select customer_id, segment_name from main.customer_segments where as_of_date = ?", [as_of]
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
        written = replace_partition(con, "customer_recommendations", result.recommendations, as_of)
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

"""Personalised product recommendations: a LightFM hybrid blended with repeat purchases.

Pipeline (pure core :func:`recommend`, I/O in :func:`run`):

1. weight events by type and recency, aggregate per customer x product;
2. fit LightFM (WARP) with user features (segment, region, age band, tenure band) and
   item features (category, brand, price band, description tokens) plus identities, so
   cold customers and new products are scored from their features;
3. blend the rank-normalised LightFM score with the customer's own repeat-purchase
   propensity (weight picked on a validation slice inside training time);
4. evaluate on a time-based holdout against two baselines computed identically
   (popularity; own past purchases then popularity) and publish the model only if it
   beats the best baseline on precision@10.
"""

from __future__ import annotations

import logging
import pickle
import re
import time
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

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
    repeat_scores,
    repeat_then_popularity_scores,
)
from cx.models.recommend_eval import evaluate_lists, holdout_split
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "recommendations"
VERSION_MODEL = "lightfm-hybrid-v1"
VERSION_REPEAT = "baseline-repeat-pop-v1"
VERSION_POPULARITY = "baseline-popularity-v1"
Method = Literal["model", "repeat_pop", "popularity"]
OUTPUT_COLUMNS = ["customer_id", "rank", "product_id", "score", "model_version"]
_TOKEN = re.compile(r"[a-z][a-z0-9]{2,}")


@dataclass(frozen=True)
class RecommendConfig:
    """Hyperparameters of the stage; the first five mirror cx.config.Settings."""

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
    repeat_half_life_days: float = 120.0
    popularity_half_life_days: float = 30.0
    # LightFM
    loss: str = "warp"
    no_components: int = 32
    epochs: int = 20
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    max_sampled: int = 10
    num_threads: int = 2
    # Blend: candidate weights of the LightFM term (the rest is repeat propensity).
    blend_grid: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)
    default_blend: float = 0.2  # used when the validation slice has no customers
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
            seed=settings.seed,
        )
        return replace(base, **overrides)


@dataclass
class FittedRecommender:
    """A fitted LightFM model with the id mappings and feature matrices it needs."""

    model: Any
    user_ids: list[str]
    item_ids: list[str]
    user_features: sparse.csr_matrix
    item_features: sparse.csr_matrix
    trained_through: pd.Timestamp
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
class RecommendResult:
    recommendations: pd.DataFrame  # customer_id, rank, product_id, score, model_version
    model_version: str
    passed: bool
    metrics: dict[str, dict[str, float]]  # method -> metric -> value
    blend_weight: float
    fitted: FittedRecommender | None
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
    """customer_id -> [(feature, weight)] from segment, region, age band and tenure band."""
    frame = customers.set_index("customer_id")
    seg = (
        segments.drop_duplicates("customer_id").set_index("customer_id")["segment_name"]
        if segments is not None and len(segments)
        else pd.Series(dtype="object")
    )
    out: dict[str, list[tuple[str, float]]] = {}
    for cid in frame.index.union(seg.index):
        feats: list[tuple[str, float]] = []
        if cid in seg.index and pd.notna(seg.get(cid)):
            feats.append((f"segment:{seg[cid]}", 1.0))
        if cid in frame.index:
            row = frame.loc[cid]
            for col in ("region", "age_band"):
                value = row.get(col)
                if value is not None and pd.notna(value):
                    feats.append((f"{col}:{value}", 1.0))
            band = _tenure_band(row.get("tenure_days"))
            if band:
                feats.append((f"tenure:{band}", 1.0))
        out[str(cid)] = feats
    return out


def item_feature_lists(products: pd.DataFrame, cfg: RecommendConfig) -> dict[str, list[tuple[str, float]]]:
    """product_id -> [(feature, weight)] from category, brand, price band and description
    tokens; the tokens share one unit of weight so a long description cannot drown the
    category."""
    price = pd.to_numeric(products["price"], errors="coerce")
    bands = pd.Series(pd.NA, index=products.index, dtype="object")
    valid = price.notna() & (price > 0)
    if valid.sum() >= cfg.price_bands:
        bands.loc[valid] = pd.qcut(price[valid].rank(method="first"), cfg.price_bands, labels=False).astype(str)

    docs = products["description"].fillna("").astype(str).str.lower().map(lambda s: sorted(set(_TOKEN.findall(s))))
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
    ids: list[str], feature_lists: dict[str, list[tuple[str, float]]], warm: np.ndarray
) -> sparse.csr_matrix:
    """Rows normalised to sum 1: [identity (warm rows only) | shared features].

    Cold rows get no identity weight: an untrained identity embedding is noise, so
    cold customers and products are represented by their features alone.
    """
    vocab = sorted({name for feats in feature_lists.values() for name, _ in feats})
    col_of = {name: len(ids) + j for j, name in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, entity in enumerate(ids):
        if warm[r]:
            rows.append(r)
            cols.append(r)
            vals.append(1.0)
        for name, weight in feature_lists.get(entity, []):
            rows.append(r)
            cols.append(col_of[name])
            vals.append(weight)
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
    from lightfm import LightFM  # heavy import kept local to the stage

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
    user_features = feature_matrix(user_ids, user_feats, warm_users)
    item_features = feature_matrix(item_ids, item_feats, warm_items)

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
        epochs=cfg.epochs,
        num_threads=cfg.num_threads,
    )
    return FittedRecommender(model, user_ids, item_ids, user_features, item_features, reference)


# ---------------------------------------------------------------------------- scoring


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Per row: best item 1, worst 0, linear in rank (scale-free, unlike raw scores)."""
    n = scores.shape[1]
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty_like(scores, dtype="float32")
    ladder = (1.0 - np.arange(n, dtype="float32") / max(n - 1, 1))[None, :]
    np.put_along_axis(out, order, np.broadcast_to(ladder, scores.shape), axis=1)
    return out


def method_scores(
    method: Method,
    users: np.ndarray,
    signals: PurchaseSignals,
    fitted: FittedRecommender | None,
    blend_weight: float,
) -> np.ndarray:
    if method == "popularity":
        return popularity_scores(signals, len(users))
    if method == "repeat_pop":
        return repeat_then_popularity_scores(signals, users)
    assert fitted is not None, "the model method needs a fitted recommender"
    lfm = rank_normalise(fitted.scores(users))
    rep = repeat_scores(signals, users)
    # The tiny LightFM term breaks ties among equal repeat propensities.
    return (blend_weight * lfm + (1.0 - blend_weight) * rep + 1e-4 * lfm).astype("float32")


def top_n_lists(
    method: Method,
    users: np.ndarray,
    user_ids: list[str],
    item_ids: list[str],
    signals: PurchaseSignals,
    candidates: np.ndarray,
    n: int,
    fitted: FittedRecommender | None = None,
    blend_weight: float = 1.0,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Top-n per user row in batches (memory is batch_size x n_items), with the
    business rules applied: only ``candidates`` and nothing bought recently."""
    items = np.asarray(item_ids, dtype=object)
    uids = np.asarray(user_ids, dtype=object)
    n_eff = int(min(n, candidates.sum()))
    frames: list[pd.DataFrame] = []
    if n_eff == 0 or len(users) == 0:
        return pd.DataFrame(columns=["customer_id", "rank", "product_id", "score"])
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = method_scores(method, batch, signals, fitted, blend_weight)
        scores[:, ~candidates] = -np.inf
        recent = signals.recent[batch]
        if recent.nnz:
            r, c = recent.nonzero()
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


# ---------------------------------------------------------------------------- core


@dataclass
class _Universe:
    user_ids: list[str]
    item_ids: list[str]
    is_product: np.ndarray
    publishable: np.ndarray
    user_feats: dict[str, list[tuple[str, float]]]
    item_feats: dict[str, list[tuple[str, float]]]


def _universe(
    interactions: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame, segments: pd.DataFrame | None, cfg: RecommendConfig
) -> _Universe:
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


def _signals(interactions: pd.DataFrame, uni: _Universe, reference: pd.Timestamp, cfg: RecommendConfig) -> PurchaseSignals:
    return purchase_signals(
        interactions,
        {u: i for i, u in enumerate(uni.user_ids)},
        {p: i for i, p in enumerate(uni.item_ids)},
        reference,
        cfg.repeat_half_life_days,
        cfg.popularity_half_life_days,
        cfg.exclude_bought_days,
    )


def _evaluate_window(
    interactions: pd.DataFrame, uni: _Universe, cutoff: pd.Timestamp, cfg: RecommendConfig, blend_grid: tuple[float, ...]
) -> tuple[dict[str, dict[str, float]], FittedRecommender | None]:
    """Fit on events before ``cutoff`` and score every method on the purchases after it.

    Returns metrics keyed by method ('popularity', 'repeat_pop', 'model@<w>').
    """
    train, test = holdout_split(interactions, [p for p, ok in zip(uni.item_ids, uni.is_product) if ok], cutoff)
    if test.empty or train.empty:
        return {}, None
    fitted = fit_lightfm(train, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, cutoff, cfg)
    signals = _signals(train, uni, cutoff, cfg)
    users = np.array(sorted(fitted.user_index[u] for u in test["customer_id"].unique()), dtype=np.int64)
    catalog = int(uni.is_product.sum())

    def score(method: Method, weight: float = 1.0) -> dict[str, float]:
        recs = top_n_lists(
            method, users, uni.user_ids, uni.item_ids, signals, uni.is_product, cfg.eval_k,
            fitted, weight, cfg.batch_size,
        )
        return evaluate_lists(recs, test, catalog, cfg.eval_k)

    metrics = {"popularity": score("popularity"), "repeat_pop": score("repeat_pop")}
    for weight in blend_grid:
        metrics[f"model@{weight:g}"] = score("model", weight)
    return metrics, fitted


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
    """Train, validate the blend, evaluate on the holdout, gate and score all customers."""
    end = pd.Timestamp(as_of) + DAY
    interactions = interactions.loc[interactions["occurred_at"] < end].copy()
    interactions["customer_id"] = interactions["customer_id"].astype(str)
    interactions["product_id"] = interactions["product_id"].astype(str)
    uni = _universe(interactions, products, customers, segments, cfg)
    interactions = interactions.loc[interactions["product_id"].isin(set(uni.item_ids))]
    test_cutoff = end - cfg.holdout_days * DAY
    val_cutoff = test_cutoff - cfg.holdout_days * DAY
    details: dict[str, Any] = {"test_cutoff": str(test_cutoff), "val_cutoff": str(val_cutoff)}

    # 1. Blend weight on a validation slice that ends where the test begins.
    val_metrics, _ = _evaluate_window(
        interactions.loc[interactions["occurred_at"] < test_cutoff], uni, val_cutoff, cfg, cfg.blend_grid
    )
    if val_metrics:
        blend = max(cfg.blend_grid, key=lambda w: val_metrics[f"model@{w:g}"]["precision"])
        details["validation_precision"] = {k: round(v["precision"], 4) for k, v in val_metrics.items()}
    else:
        blend = cfg.default_blend
        details["validation"] = "no validation customers; default blend weight"

    # 2. Holdout evaluation of the chosen blend, plain LightFM and both baselines.
    grid = tuple(dict.fromkeys((blend, 1.0)))
    test_metrics, holdout_fit = _evaluate_window(interactions, uni, test_cutoff, cfg, grid)
    baselines = {k: test_metrics[k] for k in ("popularity", "repeat_pop")} if test_metrics else {}
    model_metrics = test_metrics.get(f"model@{blend:g}") if test_metrics else None
    if test_metrics:
        details["plain_lightfm"] = test_metrics["model@1"]
        version, passed, best = gate(model_metrics, baselines)
    else:
        version, passed, best = VERSION_REPEAT, False, "repeat_pop"
        details["holdout"] = "no holdout purchases by known customers; publishing the baseline"

    # 3. Final lists from everything up to as_of.
    signals = _signals(interactions, uni, end, cfg)
    method: Method = {VERSION_MODEL: "model", VERSION_REPEAT: "repeat_pop"}.get(version, "popularity")  # type: ignore[assignment]
    fitted = (
        fit_lightfm(interactions, uni.user_ids, uni.item_ids, uni.user_feats, uni.item_feats, end, cfg)
        if method == "model"
        else holdout_fit
    )
    recs = top_n_lists(
        method, np.arange(len(uni.user_ids)), uni.user_ids, uni.item_ids, signals, uni.publishable,
        cfg.top_n, fitted, blend, cfg.batch_size,
    )
    recs["model_version"] = version
    metrics = {"model": model_metrics or {}, "popularity": baselines.get("popularity", {}), "repeat_pop": baselines.get("repeat_pop", {})}
    details.update({"blend_weight": blend, "best_baseline": best})
    return RecommendResult(recs[OUTPUT_COLUMNS], version, passed, metrics, blend, fitted, details)


def result_metrics(result: RecommendResult, k: int) -> list[Metric]:
    best = result.details["best_baseline"]
    rows = []
    for key, name in (("precision", f"p@{k}"), ("recall", f"recall@{k}"), ("ndcg", f"ndcg@{k}"), ("coverage", "coverage")):
        value = result.metrics["model"].get(key)
        base = result.metrics[best].get(key)
        detail = {
            "popularity": result.metrics["popularity"].get(key),
            "repeat_pop": result.metrics["repeat_pop"].get(key),
            "plain_lightfm": result.details.get("plain_lightfm", {}).get(key),
            "best_baseline": best,
            "blend_weight": result.blend_weight,
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
                "fitted": result.fitted,
                "blend_weight": result.blend_weight,
                "config": cfg,
                "metrics": result.metrics,
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
        "blend_weight": result.blend_weight,
        **{m.metric: m.value for m in metrics},
        "baseline_p@k": metrics[0].baseline_value,
        "artifact": str(path),
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info("recommendations %s", summary)
    return summary

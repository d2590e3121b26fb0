"""The pure core: evaluate the procedure on the holdout, gate it against the baselines,
and rank every customer's list with the winner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from cx.model_runs import Metric
from cx.models.recommend._baselines import DAY, PurchaseSignals, repeat_then_popularity, scaled_popularity
from cx.models.recommend._blend import Recommender
from cx.models.recommend._candidates import CandidateScorer, candidate_batches
from cx.models.recommend._config import (
    BASELINES,
    INTERACTION_COLUMNS,
    OUTPUT_COLUMNS,
    VERSION_MODEL,
    VERSION_POPULARITY,
    VERSION_REPEAT,
    RecommendConfig,
)
from cx.models.recommend._fit import LightFMCache, _Universe, build_universe, fit_recommender, signals_at
from cx.models.recommend._topk import top_n_lists
from cx.models.recommend.evaluation import evaluate_lists, holdout_test, lift_standard_error, precision_by_customer
from cx.row_order import sort_rows


@dataclass
class RecommendResult:
    recommendations: pd.DataFrame  # customer_id, rank, product_id, score, model_version
    model_version: str
    passed: bool
    metrics: dict[str, dict[str, float]]  # model, lightfm, popularity, repeat_pop -> metric -> value
    blend: dict[str, float]
    recommender: Recommender | None  # the fit that produced the lists (None for baselines)
    details: dict[str, Any]


def baseline_scorers(signals: PurchaseSignals) -> dict[str, CandidateScorer]:
    pop = scaled_popularity(signals)
    return {
        "popularity": lambda cand: pop[cand.items],
        "repeat_pop": lambda cand: repeat_then_popularity(cand.occasions, pop[cand.items]),
    }


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
    for key, name in (
        ("precision", f"p@{k}"),
        ("recall", f"recall@{k}"),
        ("ndcg", f"ndcg@{k}"),
        ("coverage", "coverage"),
    ):
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

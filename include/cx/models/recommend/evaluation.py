"""Offline evaluation of recommendation lists: a time-based holdout and ranking metrics.

Every method (model and baselines) is scored by the same functions on the same test
set, so the gate compares like with like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Hits in the first k over k (a short list is not rewarded for being short)."""
    if k <= 0:
        return 0.0
    hits = sum(1 for item in list(recommended)[:k] if item in relevant)
    return hits / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    hits = sum(1 for item in list(recommended)[:k] if item in relevant)
    return hits / len(relevant)


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance NDCG: DCG of the list over the DCG of a perfect list."""
    if not relevant or k <= 0:
        return 0.0
    dcg = sum(1.0 / math.log2(position + 2) for position, item in enumerate(list(recommended)[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(len(relevant), k)))
    return dcg / ideal


def catalog_coverage(lists: Iterable[Sequence[str]], catalog_size: int, k: int) -> float:
    """Share of the recommendable catalogue that appears in at least one top-k list."""
    if catalog_size <= 0:
        return 0.0
    shown: set[str] = set()
    for items in lists:
        shown.update(list(items)[:k])
    return len(shown) / catalog_size


def holdout_split(
    interactions: pd.DataFrame,
    product_ids: Iterable[str],
    cutoff: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on events before ``cutoff``; test on later purchases of real products by
    customers already seen in training (cold users have nothing to be judged on here).

    Returns (train interactions, test frame with customer_id, product_id).
    """
    return interactions.loc[interactions["occurred_at"] < cutoff], holdout_test(interactions, product_ids, cutoff)


def holdout_test(
    interactions: pd.DataFrame,
    product_ids: Iterable[str],
    cutoff: pd.Timestamp,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The test half of :func:`holdout_split` (purchases from ``cutoff`` to ``end``),
    without copying the training events."""
    when = interactions["occurred_at"]
    before = when < cutoff
    later = ~before & (interactions["interaction_type"] == "purchase")
    if end is not None:
        later &= when < end
    products = set(product_ids)
    seen_users = set(interactions.loc[before, "customer_id"].unique())
    later_rows = interactions.loc[later, ["customer_id", "product_id"]]
    test = later_rows.loc[later_rows["product_id"].isin(products) & later_rows["customer_id"].isin(seen_users)]
    return test.drop_duplicates().reset_index(drop=True)


def _relevant_and_lists(recs: pd.DataFrame, test: pd.DataFrame) -> tuple[dict[str, set], dict[str, list]]:
    """Each test customer's purchased items, and each customer's list in rank order."""
    test = test.astype({"customer_id": str, "product_id": str})  # categorical ids group like strings
    relevant = test.groupby("customer_id")["product_id"].agg(set).to_dict()
    ordered = recs.sort_values(["customer_id", "rank"])
    lists = ordered.groupby("customer_id", observed=True)["product_id"].agg(list).to_dict()
    return relevant, lists


def evaluate_lists(recs: pd.DataFrame, test: pd.DataFrame, catalog_size: int, k: int = 10) -> dict[str, float]:
    """Mean precision/recall/NDCG@k over test customers, and catalogue coverage.

    ``recs`` has customer_id, rank, product_id; a test customer without a list counts
    as all misses, so a method cannot win by abstaining.
    """
    relevant, lists = _relevant_and_lists(recs, test)
    if not relevant:
        return {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "coverage": 0.0, "users": 0}
    precision = recall = ndcg = 0.0
    for user, items in relevant.items():
        recommended = lists.get(user, [])
        precision += precision_at_k(recommended, items, k)
        recall += recall_at_k(recommended, items, k)
        ndcg += ndcg_at_k(recommended, items, k)
    n = len(relevant)
    coverage = catalog_coverage((lists.get(u, []) for u in relevant), catalog_size, k)
    return {
        "precision": precision / n,
        "recall": recall / n,
        "ndcg": ndcg / n,
        "coverage": coverage,
        "users": n,
    }


def precision_by_customer(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> pd.Series:
    """precision@k of each test customer (0 without a list), indexed by customer_id."""
    relevant, lists = _relevant_and_lists(recs, test)
    return pd.Series(
        {user: precision_at_k(lists.get(user, []), items, k) for user, items in relevant.items()}, dtype="float64"
    )


def lift_standard_error(a: pd.Series, b: pd.Series) -> float:
    """Standard error of the mean per-customer difference a - b (paired: the same
    customers scored by two methods), infinite below two customers."""
    diff = a - b.reindex(a.index, fill_value=0.0)
    if len(diff) < 2:
        return math.inf
    return float(diff.std(ddof=1) / math.sqrt(len(diff)))

"""Top-k selection for the recommender with explicit tie-breaks.

Equal scores are common (a cold customer's popular items, the baselines' repeat
counts), so which tied item makes a list must not depend on where it sat in a
candidate row or on the order rows arrived in: ties go to the lower item index, and
item indexes follow product_id order (the universe's items are sorted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from cx.models.recommend._candidates import Candidates, CandidateScorer

_INDEX_BITS = 20
_ITEM_BITS = 31  # item indexes below 2**31; with 32 bits of score the key fits an int64


def ordered_keys(values: np.ndarray) -> np.ndarray:
    """int64 keys in [0, 2**32), monotone in the float32 values (-0.0 == 0.0)."""
    bits = (values.astype("float32") + np.float32(0.0)).view(np.int32).astype(np.int64)
    return np.where(bits < 0, ~bits & 0xFFFFFFFF, bits | 0x80000000)


def descending_order(scores: np.ndarray) -> np.ndarray:
    """``np.argsort(-scores, axis=1, kind="stable")`` for float scores, about 3x faster:
    each score's order-preserving bits and its column form one unique int64 key, so
    numpy's quicksort returns the stable order (ties by column)."""
    n = scores.shape[1]
    if n >= 1 << _INDEX_BITS:
        return np.argsort(-scores, axis=1, kind="stable")
    keys = np.sort((ordered_keys(-scores) << _INDEX_BITS) | np.arange(n, dtype=np.int64), axis=1)
    return keys & ((1 << _INDEX_BITS) - 1)


def top_slots(scores: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Per row, the slots of the k best scores, best first; equal scores by item index.
    ``items[r, s]`` is the item in slot s of row r (an item fills at most one slot of a
    row with a finite score, so the order is total where it matters)."""
    keys = (ordered_keys(-scores) << _ITEM_BITS) | items.astype(np.int64)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def top_n_lists(
    scorers: dict[str, CandidateScorer],
    batches: Iterable[Candidates],
    user_ids: list[str],
    item_ids: list[str],
    n: int,
) -> dict[str, pd.DataFrame]:
    """Each scorer's top-n per user row among the valid candidates (the business rules
    are in the candidates: allowed items only, nothing bought recently)."""
    items = np.asarray(item_ids, dtype=object)
    uids = np.asarray(user_ids, dtype=object)
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in scorers}
    for cand in batches:
        if cand.items.shape[1] == 0 or n <= 0:
            continue
        kk = min(n, cand.items.shape[1])
        for name, scorer in scorers.items():
            scores = np.where(cand.valid, scorer(cand), -np.inf).astype("float32")
            top = top_slots(scores, cand.items, kk)
            top_scores = np.take_along_axis(scores, top, axis=1)
            keep = np.isfinite(top_scores)
            frames[name].append(
                pd.DataFrame(
                    {
                        "customer_id": np.repeat(uids[cand.users], kk)[keep.ravel()],
                        # Ranks stay 1..k without gaps: excluded slots are at the end.
                        "rank": np.tile(np.arange(1, kk + 1, dtype="int32"), len(cand.users))[keep.ravel()],
                        "product_id": items[np.take_along_axis(cand.items, top, axis=1)][keep],
                        "score": top_scores[keep].astype("float64"),
                    }
                )
            )
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="object"),
            "rank": pd.Series(dtype="int32"),
            "product_id": pd.Series(dtype="object"),
            "score": pd.Series(dtype="float64"),
        }
    )
    return {name: pd.concat(parts, ignore_index=True) if parts else empty.copy() for name, parts in frames.items()}

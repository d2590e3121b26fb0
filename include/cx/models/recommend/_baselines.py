"""Purchase signals shared by the baselines and the hybrid's repeat-purchase terms.

Both baselines and the blend read the same matrices, so the model is compared with
baselines computed identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class PurchaseSignals:
    """Per customer x product purchase history, item popularity and the exclusion window."""

    occasions: sparse.csr_matrix  # users x items: distinct days the customer bought the item (frequency)
    last_age: sparse.csr_matrix  # users x items: 1 + whole days since the last such day (0: never bought)
    popularity: np.ndarray  # items: recency-weighted purchase count over all customers
    recent: sparse.csr_matrix  # users x items: 1 where bought inside the exclusion window


def decay(occurred_at: pd.Series, reference: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """Exponential recency weight: 1 at ``reference``, 0.5 one half-life earlier."""
    age_days = ((reference - occurred_at) / DAY).to_numpy(dtype="float64")
    return np.power(0.5, np.clip(age_days, 0.0, None) / max(half_life_days, 1e-9))


def index_positions(ids: pd.Series, index: dict[str, int]) -> np.ndarray:
    """Each id's position in ``index``, -1 if absent. A categorical column is looked up
    once per category, not once per row (the stage passes its ids as categoricals)."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        lookup = np.array([index.get(str(c), -1) for c in ids.cat.categories] + [-1], dtype=np.int64)
        return lookup[ids.cat.codes.to_numpy()]  # code -1 (missing) reads the trailing -1
    return ids.map(index).fillna(-1).to_numpy(dtype=np.int64)


def purchase_signals(
    interactions: pd.DataFrame,
    user_index: dict[str, int],
    item_index: dict[str, int],
    reference: pd.Timestamp,
    popularity_half_life_days: float,
    exclude_bought_days: int,
) -> PurchaseSignals:
    """Signals from the purchases before ``reference`` (later events are ignored)."""
    n_users, n_items = len(user_index), len(item_index)
    buys = interactions.loc[
        (interactions["interaction_type"] == "purchase") & (interactions["occurred_at"] < reference),
        ["customer_id", "product_id", "occurred_at"],
    ]
    rows = index_positions(buys["customer_id"], user_index)
    cols = index_positions(buys["product_id"], item_index)
    known = (rows >= 0) & (cols >= 0)
    buys, rows, cols = buys.loc[known], rows[known], cols[known]

    # A purchase occasion is a (customer, product, day): one order of 48 mugs, or three
    # lines of the same mug on one invoice, is one signal of intent.
    day_age = np.floor(((reference.normalize() - buys["occurred_at"].dt.normalize()) / DAY).to_numpy(dtype="float64"))
    occasions = pd.DataFrame({"r": rows, "c": cols, "age": day_age}).drop_duplicates()
    pairs = occasions.groupby(["r", "c"], sort=False)["age"].agg(["size", "min"])
    r_idx = pairs.index.get_level_values(0).to_numpy()
    c_idx = pairs.index.get_level_values(1).to_numpy()
    shape = (n_users, n_items)
    occ = sparse.csr_matrix((pairs["size"].to_numpy(dtype="float32"), (r_idx, c_idx)), shape=shape)
    last = sparse.csr_matrix(((pairs["min"].to_numpy() + 1.0).astype("float32"), (r_idx, c_idx)), shape=shape)

    pop_w = decay(buys["occurred_at"], reference, popularity_half_life_days)
    popularity = np.bincount(cols, weights=pop_w, minlength=n_items).astype("float64")

    if exclude_bought_days > 0:
        window = (buys["occurred_at"] >= reference - exclude_bought_days * DAY).to_numpy()
        recent = sparse.csr_matrix(
            (np.ones(int(window.sum()), dtype="float32"), (rows[window], cols[window])), shape=shape
        )
        recent.sum_duplicates()
    else:
        recent = sparse.csr_matrix(shape, dtype="float32")
    return PurchaseSignals(occasions=occ, last_age=last, popularity=popularity, recent=recent)


def scaled_popularity(signals: PurchaseSignals) -> np.ndarray:
    """Item popularity scaled into [0, 1)."""
    pop = signals.popularity
    top = pop.max() if pop.size and pop.max() > 0 else 1.0
    return (0.999 * pop / top).astype("float32")


def repeat_then_popularity(occasions: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """'Buy again' on any set of items: the customer's own past purchases first, most
    often bought first, then the most popular products. ``occasions``: the customer's
    purchase days of each item; ``popularity``: the items' scaled popularity, in [0, 1),
    so it never overturns an extra occasion. Ties between own items go to the more
    popular one: most own items were bought once, and popularity orders them far better
    than recency does."""
    return np.where(occasions > 0, 1.0 + occasions + popularity, popularity).astype("float32")

"""Purchase signals shared by the baselines and the hybrid's repeat-purchase term.

Both baselines and the blend read the same recency-weighted matrices, so the model
is compared with baselines computed identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class PurchaseSignals:
    """Per-user repeat propensity, item popularity and recently bought items."""

    repeat: sparse.csr_matrix  # users x items, recency-weighted purchase counts
    popularity: np.ndarray  # items, recency-weighted purchase counts over all users
    recent: sparse.csr_matrix  # users x items, 1 where bought inside the exclusion window


def decay(occurred_at: pd.Series, reference: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """Exponential recency weight: 1 at ``reference``, 0.5 one half-life earlier."""
    age_days = ((reference - occurred_at) / DAY).to_numpy(dtype="float64")
    return np.power(0.5, np.clip(age_days, 0.0, None) / max(half_life_days, 1e-9))


def purchase_signals(
    interactions: pd.DataFrame,
    user_index: dict[str, int],
    item_index: dict[str, int],
    reference: pd.Timestamp,
    repeat_half_life_days: float,
    popularity_half_life_days: float,
    exclude_bought_days: int,
) -> PurchaseSignals:
    n_users, n_items = len(user_index), len(item_index)
    buys = interactions.loc[interactions["interaction_type"] == "purchase"]
    rows = buys["customer_id"].map(user_index)
    cols = buys["product_id"].map(item_index)
    known = rows.notna() & cols.notna()
    buys, rows, cols = buys.loc[known], rows[known].astype(int).to_numpy(), cols[known].astype(int).to_numpy()

    # Count purchase events (not units): one order of 48 mugs is one signal of intent.
    repeat_w = decay(buys["occurred_at"], reference, repeat_half_life_days)
    repeat = sparse.csr_matrix((repeat_w, (rows, cols)), shape=(n_users, n_items))
    repeat.sum_duplicates()

    pop_w = decay(buys["occurred_at"], reference, popularity_half_life_days)
    popularity = np.bincount(cols, weights=pop_w, minlength=n_items).astype("float64")

    if exclude_bought_days > 0:
        window = (buys["occurred_at"] >= reference - exclude_bought_days * DAY).to_numpy()
        recent = sparse.csr_matrix(
            (np.ones(int(window.sum())), (rows[window], cols[window])), shape=(n_users, n_items)
        )
        recent.sum_duplicates()
    else:
        recent = sparse.csr_matrix((n_users, n_items))
    return PurchaseSignals(repeat=repeat, popularity=popularity, recent=recent)


def popularity_scores(signals: PurchaseSignals, n_rows: int) -> np.ndarray:
    """The same list for everyone, scaled into [0, 1)."""
    pop = signals.popularity
    top = pop.max() if pop.size and pop.max() > 0 else 1.0
    return np.broadcast_to((0.999 * pop / top).astype("float32"), (n_rows, pop.size)).copy()


def repeat_scores(signals: PurchaseSignals, users: np.ndarray) -> np.ndarray:
    """Repeat propensity per row scaled to [0, 1] by the row's maximum."""
    rep = signals.repeat[users].toarray().astype("float32")
    row_max = rep.max(axis=1, keepdims=True)
    return np.divide(rep, row_max, out=np.zeros_like(rep), where=row_max > 0)


def repeat_then_popularity_scores(signals: PurchaseSignals, users: np.ndarray) -> np.ndarray:
    """The customer's own past purchases first (by recency-weighted count), then popularity."""
    rep = repeat_scores(signals, users)
    pop = popularity_scores(signals, len(users))
    return np.where(rep > 0, 1.0 + rep, pop).astype("float32")

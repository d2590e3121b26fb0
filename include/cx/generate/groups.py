"""The planted customer groups and how each behaves.

Five groups, each with a marker the others lack: spend and basket size (high
spenders), returns (bargain hunters), a recent first order (new customers), a long
silence (lapsed customers), many sessions with abandoned carts (browsers). Groups
are far apart on recency, frequency, spend, basket size, returns, web
sessions and cart abandonment, so clustering on RFM-style features recovers them.
Rates are per customer and day, before the calendar multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Group:
    name: str
    share: float
    order_rate: float
    extra_items: float  # basket size = 1 + Poisson(extra_items)
    tier: int  # 0 cheap, 1 mid, 2 premium
    multi_qty: float  # share of lines with quantity 2-3
    return_rate: float
    cancel_rate: float
    browse_rate: float  # browsing-only sessions per day
    cart_prob: float  # chance a browsing session adds to cart (and abandons it)
    channels: tuple[float, float, float]  # web, app, store
    review_prob: float
    ticket_prob: float
    rating_shift: float


GROUPS: tuple[Group, ...] = (
    Group(
        "frequent_high_spenders", 0.13, 0.085, 3.0, 2, 0.10, 0.02, 0.01, 0.05, 0.10, (0.45, 0.45, 0.10), 0.40, 0.03, 0.4
    ),
    Group("bargain_hunters", 0.22, 0.085, 0.3, 0, 0.45, 0.45, 0.03, 0.05, 0.25, (0.60, 0.35, 0.05), 0.35, 0.04, -0.5),
    Group("new_customers", 0.16, 0.050, 0.2, 1, 0.08, 0.04, 0.02, 0.30, 0.20, (0.50, 0.45, 0.05), 0.45, 0.04, 0.2),
    Group("lapsed_customers", 0.17, 0.090, 1.6, 1, 0.10, 0.05, 0.02, 0.06, 0.15, (0.55, 0.25, 0.20), 0.35, 0.03, -0.2),
    Group(
        "browsers_cart_abandoners", 0.32, 0.0, 0.6, 1, 0.05, 0.04, 0.02, 0.20, 0.85, (0.70, 0.30, 0.00), 0.30, 0.03, 0.0
    ),
)
GROUP_NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)
NEW = GROUP_NAMES.index("new_customers")
LAPSED = GROUP_NAMES.index("lapsed_customers")


def column(attr: str) -> np.ndarray:
    """One behaviour parameter for all groups, indexable by group id."""
    return np.array([getattr(g, attr) for g in GROUPS], dtype=np.float64)

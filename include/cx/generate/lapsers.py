"""Planted lapsers: regular buyers whose purchase rhythm stops for good late in the
run, the behaviour the retention stage must recover.

Unlike the ``lapsed_customers`` group (silent since the first third of the run, easy
to see), a planted lapser belongs to an active group and stops at a day drawn in
``WINDOW`` (a share of the run), so at the end of the run they have been silent for
one to a few of their usual gaps: at risk, not yet obviously gone. Their browsing
fades with their orders (``Population.lapse_day`` drives both). Opt-in
(``generate(..., lapsers=share)``): the default output stays byte-identical.

The truth is ``_truth/lapsers.csv`` (customer_id, lapse_date: the first day without
orders) and the manifest's ``events["planted_lapsers"]``.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cx.generate.groups import GROUP_NAMES, column

# Groups whose members buy on a rhythm that can stop (not the already lapsed, not
# customers who signed up during the run, not browsers who never order).
ELIGIBLE_GROUPS: tuple[str, ...] = ("frequent_high_spenders", "bargain_hunters")
WINDOW: tuple[float, float] = (0.5, 0.8)


def eligible(pop: Any) -> np.ndarray:
    """Customers who can be planted: signed up before the run, in an ELIGIBLE_GROUPS
    group with an order rate, not lapsing anyway."""
    groups = np.array([GROUP_NAMES.index(g) for g in ELIGIBLE_GROUPS])
    return (
        np.isin(pop.group, groups)
        & (pop.signup_day < 0)
        & (column("order_rate")[pop.group] > 0)
        & (pop.lapse_day >= 1 << 40)
    )


def plant_lapsers(rng: np.random.Generator, pop: Any, days: int, share: float) -> np.ndarray:
    """Stop the rhythm of ``share`` of the eligible customers at a day in WINDOW (pop is
    changed in place); returns their indices, in customer order."""
    if not 0 <= share <= 1:
        raise ValueError(f"lapsers must be a share between 0 and 1, got {share}")
    candidates = np.flatnonzero(eligible(pop))
    chosen = np.sort(rng.choice(candidates, size=int(round(share * candidates.size)), replace=False))
    low, high = (int(days * w) for w in WINDOW)
    pop.lapse_day[chosen] = rng.integers(low, max(high, low + 1), chosen.size)
    return chosen


def write_lapsers(path: Path, pop: Any, chosen: np.ndarray, start: date, manifest: Any) -> None:
    """The truth file and the manifest's count (nothing when none was planted)."""
    if chosen.size == 0:
        return
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("customer_id", "lapse_date"))
        w.writerows(
            (pop.customer_id[i], (start + timedelta(days=int(pop.lapse_day[i]))).isoformat()) for i in chosen.tolist()
        )
    manifest.events["planted_lapsers"] = {"customers": int(chosen.size), "eligible_groups": list(ELIGIBLE_GROUPS)}

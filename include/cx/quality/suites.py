"""What the suites need at run time: their ``$PARAMETER`` values, derived columns, skips.

The expectations themselves are JSON in ``include/gx/expectations`` (see
:mod:`cx.quality.project`). This module holds the parts that depend on the run:

- :class:`RunParams` and :func:`expectation_parameters`: the run's day and the
  history baselines (trailing volume, rating mix, order-amount deciles), computed
  from the warehouse, never from the clock;
- frame helpers that build the derived columns (``_``-prefixed) the suites check,
  so tests and ad-hoc use build exactly what the pipeline builds;
- :func:`prepare`: the statistical suites are skipped, with a reason recorded in
  ``dq_results``, when there is not enough data for a meaningful comparison.

Nothing here imports Great Expectations.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from cx.quality.policy import Thresholds

RATING_VALUES = (1, 2, 3, 4, 5)
# Published tables written by the model stages, partitioned by as_of_date.
MODEL_OUTPUTS = (
    "customer_segments",
    "customer_recommendations",
    "review_sentiment",
    "sales_forecast",
    "customer_value",
    "retention_targets",
    "product_demand_forecast",
    "model_runs",
)
DECILES = 10

# Every $PARAMETER a suite may use (``python -m cx.quality.project check`` enforces it).
PARAMETERS = (
    "latest_allowed_ts",
    "as_of_dates",
    "state_latest_allowed_ts",
    "state_as_of_dates",
    "first_forecast_day",
    "recs_top_n",
    "volume_ratio_min",
    "volume_ratio_max",
    "known_share_min",
    "rating_partition",
    "rating_kl_max",  # rating_kl_max and order_amount_kl_max: see prepare()
    "order_amount_median_min",
    "order_amount_median_max",
    "order_amount_partition",
    "order_amount_kl_max",
)


@dataclass(frozen=True)
class RunParams:
    run_from: date
    run_to: date
    thresholds: Thresholds = field(default_factory=Thresholds)
    recs_top_n: int = 10
    # Baselines from the trailing days before run_from (None: not enough history).
    rating_weights: tuple[float, ...] | None = None
    rating_history: int = 0
    amount_median: float | None = None
    amount_edges: tuple[float, ...] | None = None  # inner decile edges (DECILES - 1 values)
    amount_weights: tuple[float, ...] | None = None  # share of trailing orders per decile bin
    amount_history: int = 0
    # The day the current-state marts (dim_customers, dim_products) describe: the newest
    # day processed (cx.run_days), arrivals or not; newer than run_to when an older day
    # is (re)run in a backfill.
    state_as_of: date | None = None

    def _latest_allowed(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=self.thresholds.future_tolerance_days + 1), time.min)

    @property
    def latest_allowed_ts(self) -> datetime:
        """Staging's own rule: nothing after the end of (run's last day + tolerance)."""
        return self._latest_allowed(self.run_to)

    @property
    def state_day(self) -> date:
        return max(self.run_to, self.state_as_of or self.run_to)

    @property
    def state_latest_allowed_ts(self) -> datetime:
        return self._latest_allowed(self.state_day)


def expectation_parameters(p: RunParams) -> dict[str, Any]:
    """Values of every ``$PARAMETER`` for the run (unavailable baselines are left out)."""
    t = p.thresholds
    values: dict[str, Any] = {
        # ISO with a time part: GX compares it with timestamp columns as a datetime.
        "latest_allowed_ts": p.latest_allowed_ts.isoformat(),
        "as_of_dates": [p.run_to.isoformat()],
        "state_latest_allowed_ts": p.state_latest_allowed_ts.isoformat(),
        "state_as_of_dates": [p.state_day.isoformat()],
        "first_forecast_day": datetime.combine(p.run_to + timedelta(days=1), time.min).isoformat(),
        "recs_top_n": p.recs_top_n,
        "volume_ratio_min": t.volume_ratio_min,
        "volume_ratio_max": t.volume_ratio_max,
        "known_share_min": t.known_share_min,
    }
    if p.rating_weights is not None:
        values["rating_partition"] = {"values": list(RATING_VALUES), "weights": list(p.rating_weights)}
    if p.amount_median is not None:
        values["order_amount_median_min"] = round(p.amount_median * t.amount_median_ratio_min, 2)
        values["order_amount_median_max"] = round(p.amount_median * t.amount_median_ratio_max, 2)
    if p.amount_weights is not None:
        values["order_amount_partition"] = {"values": list(range(DECILES)), "weights": list(p.amount_weights)}
    return values


# --- baselines -----------------------------------------------------------------------


def smoothed_shares(counts: Sequence[float]) -> tuple[float, ...]:
    """Shares with add-one smoothing: a value absent from history is rare, not impossible
    (an exact zero would make any occurrence an infinite KL divergence)."""
    total = float(sum(counts)) + len(counts)
    return tuple(round((float(c) + 1.0) / total, 6) for c in counts)


def rating_baseline(ratings: pd.Series) -> tuple[tuple[float, ...], int]:
    """Trailing 1..5 star mix (smoothed shares) and the number of rated reviews."""
    values = pd.to_numeric(ratings, errors="coerce").dropna()
    counts = [int((values == v).sum()) for v in RATING_VALUES]
    return smoothed_shares(counts), int(sum(counts))


def amount_baseline(amounts: pd.Series) -> tuple[float | None, tuple[float, ...] | None, tuple[float, ...] | None, int]:
    """Trailing median, inner decile edges and the share of trailing orders per bin."""
    values = pd.to_numeric(amounts, errors="coerce").dropna().to_numpy(dtype="float64")
    if values.size == 0:
        return None, None, None, 0
    edges = tuple(float(e) for e in np.quantile(values, np.arange(1, DECILES) / DECILES))
    # Ties (many orders of the same amount) make bins unequal: use the observed shares.
    counts = np.bincount(amount_bins(values, edges), minlength=DECILES)
    return float(np.median(values)), edges, smoothed_shares(counts.tolist()), int(values.size)


def kl_limit(rows: int, categories: int, floor: float, false_alarm_rate: float) -> float:
    """Largest KL divergence a sample of ``rows`` from the baseline mix itself reaches
    with probability ``1 - false_alarm_rate`` (2n*KL ~ chi2(k-1)), at least ``floor``."""
    from scipy.stats import chi2

    return round(max(floor, float(chi2.ppf(1 - false_alarm_rate, categories - 1)) / (2 * max(rows, 1))), 4)


def amount_bins(amounts: Any, edges: Sequence[float]) -> np.ndarray:
    """Decile bin (0..DECILES-1) of each amount against the trailing edges."""
    return np.searchsorted(np.asarray(edges, dtype="float64"), np.asarray(amounts, dtype="float64"), side="right")


# --- frame helpers -------------------------------------------------------------------


def flag_membership(frame: pd.DataFrame, column: str, keys: Collection[Any], flag: str) -> pd.DataFrame:
    """Add boolean ``flag``: is ``frame[column]`` among ``keys`` (the referenced table)."""
    out = frame.copy()
    out[flag] = out[column].isin(pd.Index(list(keys))).astype(bool)
    return out


def with_amount_decile(orders: pd.DataFrame, p: RunParams) -> pd.DataFrame:
    """``_amount_decile``: each order's bin among the trailing order-amount deciles."""
    out = orders.loc[orders["order_amount"].notna()].copy()
    if p.amount_edges is not None:
        out["_amount_decile"] = amount_bins(out["order_amount"], p.amount_edges).astype("int64")
    return out


def volume_frame(daily_counts: pd.DataFrame, run_from: date, run_to: date, history_days: int) -> pd.DataFrame:
    """Per run day the source delivered: clean rows, mean of the trailing days that had
    rows, ratio.

    ``daily_counts`` has one row (``day``, ``rows``) per extraction day with rows,
    and per run day the source delivered (``rows`` may be 0 there). A run day without
    a row had no delivery: it gets no row, as silence is the freshness check's to
    judge, not a volume drop. Only days with rows enter the baseline, so a closed day
    or a missing delivery does not drag the average down.
    """
    counts = {pd.Timestamp(d).date(): int(n) for d, n in zip(daily_counts["day"], daily_counts["rows"], strict=False)}
    out = []
    day = run_from
    while day <= run_to:
        if day not in counts:
            day += timedelta(days=1)
            continue
        trailing = [
            counts[d] for d in (day - timedelta(days=k) for k in range(1, history_days + 1)) if counts.get(d, 0) > 0
        ]
        mean = sum(trailing) / len(trailing) if trailing else None
        current = counts[day]
        out.append(
            {
                "day": day.isoformat(),  # text: quoted as is in samples
                "rows": current,
                "trailing_mean": round(mean, 1) if mean else None,
                "history_days": len(trailing),
                "ratio": round(current / mean, 3) if mean else None,
            }
        )
        day += timedelta(days=1)
    return pd.DataFrame(out, columns=["day", "rows", "trailing_mean", "history_days", "ratio"])


# --- skips ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame
    skip: str | None = None  # why the suite is not evaluated this run
    parameters: dict[str, Any] = field(default_factory=dict)  # frame-dependent $PARAMETERs


def _against_baseline(
    frame: pd.DataFrame,
    rows: str,
    purpose: str,
    min_rows: int,
    baseline: tuple[bool, int, int, int],
    kl: tuple[str, int, float, float],
) -> Prepared:
    """A distribution compared with the trailing days' (KL divergence) needs ``min_rows``
    rows in the run and a baseline from enough history. ``baseline``: (there is one, its
    rows, the rows it needs, its days); ``kl``: (the parameter of the limit, categories,
    the limit's floor, the false-alarm rate)."""
    exists, history, min_history, history_days = baseline
    if len(frame) < min_rows:
        return Prepared(frame, f"only {len(frame)} {rows} in the run; need {min_rows} for {purpose}")
    if not exists or history < min_history:
        return Prepared(
            frame, f"{history} {rows} in the trailing {history_days} days; need {min_history} for a baseline"
        )
    parameter, categories, floor, false_alarm_rate = kl
    return Prepared(frame, parameters={parameter: kl_limit(len(frame), categories, floor, false_alarm_rate)})


def prepare(suite: str, frame: pd.DataFrame, p: RunParams) -> Prepared:
    """The frame the suite validates and its own parameters, or a reason to skip it
    (too little data for a meaningful comparison)."""
    t = p.thresholds
    if suite in MODEL_OUTPUTS and frame.empty:
        return Prepared(
            frame,
            f"no rows for {p.run_to}: the model stage did not run for this day "
            "(training cadence) or had nothing to write",
        )
    if suite.endswith("_volume"):
        if frame.empty:
            return Prepared(
                frame, "the source delivered nothing on the run's days: source_freshness judges its silence"
            )
        enough = frame.loc[frame["history_days"] >= t.volume_min_history_days]
        if enough.empty:
            return Prepared(
                frame,
                f"not enough history: fewer than {t.volume_min_history_days} of the trailing "
                f"{t.volume_history_days} days had rows",
            )
        return Prepared(enough.reset_index(drop=True))
    if suite == "stg_reviews_rating_mix":
        rated = frame.loc[frame["rating"].notna()].reset_index(drop=True)
        history = (p.rating_weights is not None, p.rating_history, t.rating_min_history_reviews, t.rating_history_days)
        kl = ("rating_kl_max", len(RATING_VALUES), t.rating_kl_floor, t.kl_false_alarm_rate)
        return _against_baseline(rated, "rated reviews", "a rating mix", t.rating_min_reviews, history, kl)
    if suite == "fct_orders_amount":
        history = (p.amount_median is not None, p.amount_history, t.amount_min_history_orders, t.amount_history_days)
        kl = ("order_amount_kl_max", DECILES, t.amount_kl_floor, t.kl_false_alarm_rate)
        return _against_baseline(frame, "orders", "a distribution", t.amount_min_orders, history, kl)
    return Prepared(frame)

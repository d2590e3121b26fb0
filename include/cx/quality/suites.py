"""The expectation suites, as plain data reviewed like code.

A suite builder takes the run's frame of one table and the run's parameters and
returns a :class:`Suite`: named :class:`Check` s (a Great Expectations expectation
type and its kwargs) plus the checks it had to skip and why (not enough history).
Nothing here imports Great Expectations, so the suites are cheap to import, to
test and to list; :mod:`cx.quality.checkpoint` turns them into GX objects.

Derived columns (``_``-prefixed) carry what a single-column expectation cannot see:
referential flags computed when the frame is read (``_order_in_fct_orders``) and
per-row indicators (``_is_five_star``). Helpers that compute them from pandas
frames are here too, so tests and ad-hoc use build the same columns.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from cx.quality.policy import Thresholds

ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")
EVENT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "purchase")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
GENDERS = ("female", "male", "other")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


@dataclass(frozen=True)
class Check:
    name: str  # stable id within the table; the policy and dq_results use it
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    why: str  # one line for the error message and Data Docs


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Suite:
    name: str  # GX suite name, also dq_results.suite
    table: str  # schema-qualified table, dq_results.table
    id_columns: tuple[str, ...]  # quoted beside sample values so a bad row can be found
    checks: tuple[Check, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def short_table(self) -> str:
        return self.table.rsplit(".", 1)[-1]

    def check_id(self, check: Check | Skipped) -> str:
        return f"{self.short_table}.{check.name}"


@dataclass(frozen=True)
class RunParams:
    run_from: date
    run_to: date
    thresholds: Thresholds = field(default_factory=Thresholds)
    # Baselines computed from history when the frames are read (None: not enough).
    trailing_order_median: float | None = None
    trailing_order_count: int = 0

    @property
    def latest_allowed_ts(self) -> datetime:
        """Staging's own rule: nothing after the end of (run's last day + tolerance)."""
        return datetime.combine(
            self.run_to + timedelta(days=self.thresholds.future_tolerance_days + 1), time.min
        )


# --- check constructors: one line per rule in the suites below -----------------------


def not_null(column: str) -> Check:
    return Check(f"{column}_not_null", "ExpectColumnValuesToNotBeNull", {"column": column},
                 f"{column} is a key or required field")


def unique(column: str) -> Check:
    return Check(f"{column}_unique", "ExpectColumnValuesToBeUnique", {"column": column},
                 f"one row per {column}")


def unique_together(name: str, columns: Collection[str], why: str) -> Check:
    return Check(name, "ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}, why)


def in_set(column: str, values: Collection[Any], why: str) -> Check:
    return Check(f"{column}_in_set", "ExpectColumnValuesToBeInSet",
                 {"column": column, "value_set": list(values)}, why)


def between(name: str, column: str, why: str, low: Any = None, high: Any = None,
            strict_low: bool = False, mostly: float | None = None) -> Check:
    kwargs: dict[str, Any] = {"column": column, "min_value": low, "max_value": high, "strict_min": strict_low}
    if mostly is not None:
        kwargs["mostly"] = mostly
    return Check(name, "ExpectColumnValuesToBeBetween", kwargs, why)


def flag_true(name: str, column: str, why: str, mostly: float | None = None) -> Check:
    kwargs: dict[str, Any] = {"column": column, "value_set": [True]}
    if mostly is not None:
        kwargs["mostly"] = mostly
    return Check(name, "ExpectColumnValuesToBeInSet", kwargs, why)


def not_future(column: str, params: RunParams) -> Check:
    limit = params.latest_allowed_ts.isoformat()
    return between(f"{column}_not_future", column,
                   f"{column} after {limit} is in the future for a run ending {params.run_to}",
                   high=limit)


# --- frame helpers -------------------------------------------------------------------


def flag_membership(frame: pd.DataFrame, column: str, keys: Collection[Any], flag: str) -> pd.DataFrame:
    """Add boolean ``flag``: is ``frame[column]`` among ``keys`` (the referenced table)."""
    out = frame.copy()
    out[flag] = out[column].isin(pd.Index(list(keys))).astype(bool)
    return out


def with_five_star(reviews: pd.DataFrame) -> pd.DataFrame:
    """``_is_five_star``: 1.0 / 0.0 for rated reviews, NaN for unrated ones."""
    out = reviews.copy()
    rating = pd.to_numeric(out["rating"], errors="coerce")
    out["_is_five_star"] = (rating == 5).astype("float64").where(rating.notna())
    return out


def volume_frame(daily_counts: pd.DataFrame, run_from: date, run_to: date, history_days: int) -> pd.DataFrame:
    """Per run day: clean orders, mean of the trailing days that had orders, ratio.

    ``daily_counts`` has one row per extraction day with orders (``day``, ``orders``);
    days without a row had none. Only days with data enter the baseline, so a
    closed day or a missing delivery does not drag the average down.
    """
    counts = {pd.Timestamp(d).date(): int(n) for d, n in zip(daily_counts["day"], daily_counts["orders"])}
    rows = []
    day = run_from
    while day <= run_to:
        trailing = [counts[d] for d in (day - timedelta(days=k) for k in range(1, history_days + 1)) if d in counts]
        mean = sum(trailing) / len(trailing) if trailing else None
        current = counts.get(day, 0)
        rows.append({
            "day": pd.Timestamp(day),
            "orders": current,
            "trailing_mean": mean,
            "history_days": len(trailing),
            "ratio": (current / mean) if mean else None,
        })
        day += timedelta(days=1)
    return pd.DataFrame(rows, columns=["day", "orders", "trailing_mean", "history_days", "ratio"])


# --- staged tables: clean rows (_dq_reason is null) of the run's extraction days -------


def stg_orders(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("stg_orders", "staging.stg_orders", ("order_id", "_landing_date", "_file", "_line"), (
        not_null("order_id"),
        not_null("customer_id"),
        not_null("ordered_at"),
        in_set("status", ORDER_STATUSES, "order status is one of the contract's values (NULL defaults to placed)"),
        not_future("ordered_at", p),
        unique_together("order_id_unique_per_day", ["order_id", "_landing_date"],
                        "an order arrives once per extraction day (later versions are resolved by dbt)"),
    ))


def stg_orders_volume(frame: pd.DataFrame, p: RunParams) -> Suite:
    t = p.thresholds
    name = "volume_vs_trailing_7d"
    enough = frame.loc[frame["history_days"] >= t.volume_min_history_days] if len(frame) else frame
    days = ", ".join(str(pd.Timestamp(d).date()) for d in frame.loc[~frame.index.isin(enough.index), "day"])
    skipped = (Skipped(name, f"not enough history for {days}: fewer than {t.volume_min_history_days} of "
                             f"the trailing {t.volume_history_days} days had orders"),) if days else ()
    checks = (between(name, "ratio",
                      f"clean orders per day within [{t.volume_ratio_min}, {t.volume_ratio_max}] x the "
                      f"trailing {t.volume_history_days}-day mean", low=t.volume_ratio_min, high=t.volume_ratio_max),
              ) if len(enough) else ()
    return Suite("stg_orders_volume", "staging.stg_orders", ("day", "orders", "trailing_mean"), checks, skipped)


def stg_order_items(frame: pd.DataFrame, p: RunParams) -> Suite:
    t = p.thresholds
    return Suite("stg_order_items", "staging.stg_order_items", ("order_id", "product_id", "_landing_date", "_line"), (
        not_null("order_id"),
        not_null("product_id"),
        not_null("quantity"),
        between("unit_price_positive", "unit_price", "a price is positive (refunds are negative quantities)",
                low=0, strict_low=True),
        Check("quantity_non_zero", "ExpectColumnValuesToNotBeInSet", {"column": "quantity", "value_set": [0]},
              "a line sells (> 0) or returns (< 0) something"),
        flag_true("order_resolved", "_order_resolved",
                  "every clean line either belongs to an order in marts.fct_orders or is quarantined as an orphan"),
        flag_true("orphan_share", "_order_in_fct_orders",
                  f"at most {t.orphan_share_max:.0%} of lines arrive before/without their order",
                  mostly=1 - t.orphan_share_max),
    ))


def stg_customers(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("stg_customers", "staging.stg_customers", ("customer_id", "_landing_date", "_line"), (
        not_null("customer_id"),
        not_null("updated_at"),
        not_future("updated_at", p),
        in_set("gender", GENDERS, "gender is normalised to the reference values or NULL"),
        Check("email_format", "ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL_PATTERN, "mostly": 0.95},
              "cleaned emails look like emails (pseudonymised downstream)"),
        unique_together("customer_id_unique_per_day", ["customer_id", "updated_at", "_landing_date"],
                        "one version of a customer per update time and extraction day"),
    ))


def stg_products(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("stg_products", "staging.stg_products", ("product_id", "_landing_date", "_line"), (
        not_null("product_id"),
        between("price_positive", "price", "a catalog price is positive when present", low=0, strict_low=True),
        not_future("updated_at", p),
        unique_together("product_id_unique_per_day", ["product_id", "updated_at", "_landing_date"],
                        "one version of a product per update time and extraction day"),
    ))


def stg_web_events(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("stg_web_events", "staging.stg_web_events", ("event_id", "_landing_date", "_line"), (
        not_null("event_id"),
        not_null("occurred_at"),
        in_set("event_type", EVENT_TYPES, "event type is one of the contract's values"),
        not_future("occurred_at", p),
        unique_together("event_id_unique_per_day", ["event_id", "_landing_date"], "an event is tracked once"),
    ))


def stg_reviews(frame: pd.DataFrame, p: RunParams) -> Suite:
    t = p.thresholds
    checks = [
        not_null("review_id"),
        not_null("created_at"),
        between("rating_1_to_5", "rating", "ratings are 1..5 stars when present", low=1, high=5),
        not_future("created_at", p),
        unique_together("review_id_unique_per_day", ["review_id", "_landing_date"], "a review arrives once per day"),
    ]
    skipped: tuple[Skipped, ...] = ()
    rated = int(frame["_is_five_star"].notna().sum()) if "_is_five_star" in frame else 0
    if rated >= t.five_star_min_reviews:
        checks.append(Check("five_star_share", "ExpectColumnMeanToBeBetween",
                            {"column": "_is_five_star", "min_value": t.five_star_share_min,
                             "max_value": t.five_star_share_max},
                            "the rating mix has not collapsed (share of 5-star reviews)"))
    else:
        skipped = (Skipped("five_star_share", f"only {rated} rated reviews in the run; need "
                                              f"{t.five_star_min_reviews} for a rating mix"),)
    return Suite("stg_reviews", "staging.stg_reviews", ("review_id", "_landing_date", "_line"), tuple(checks), skipped)


def stg_support_tickets(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("stg_support_tickets", "staging.stg_support_tickets", ("ticket_id", "_landing_date", "_line"), (
        not_null("ticket_id"),
        not_null("created_at"),
        in_set("status", TICKET_STATUSES, "ticket status is normalised to the reference values or NULL"),
        not_future("created_at", p),
        unique_together("ticket_id_unique_per_day", ["ticket_id", "_landing_date"], "a ticket arrives once per day"),
    ))


# --- marts (the run's partition where the table has one) and model outputs -----------


def fct_orders(frame: pd.DataFrame, p: RunParams) -> Suite:
    t = p.thresholds
    checks = [
        not_null("order_id"),
        unique("order_id"),
        not_null("customer_id"),
        Check("status_in_set", "ExpectColumnValuesToBeInSet",
              {"column": "status", "value_set": list(ORDER_STATUSES)}, "every published order has a contract status"),
        not_null("status"),
        between("order_amount_non_negative", "order_amount", "sold value is >= 0 (returns are separate)", low=0),
        between("items_count_non_negative", "items_count", "line count is >= 0", low=0),
        not_future("ordered_at", p),
    ]
    skipped: tuple[Skipped, ...] = ()
    name = f"order_amount_median_vs_trailing_{t.median_history_days}d"
    current = int(frame["order_amount"].notna().sum()) if "order_amount" in frame else 0
    if p.trailing_order_median and p.trailing_order_count >= t.median_min_history_orders and current:
        checks.append(Check(name, "ExpectColumnMedianToBeBetween",
                            {"column": "order_amount", "min_value": round(p.trailing_order_median * t.median_ratio_min, 2),
                             "max_value": round(p.trailing_order_median * t.median_ratio_max, 2)},
                            f"median order amount within [{t.median_ratio_min}, {t.median_ratio_max}] x the trailing "
                            f"median {p.trailing_order_median:.2f}"))
    else:
        skipped = (Skipped(name, f"{p.trailing_order_count} orders in the trailing {t.median_history_days} days "
                                 f"(need {t.median_min_history_orders}) and {current} in the run"),)
    return Suite("fct_orders", "marts.fct_orders", ("order_id",), tuple(checks), skipped)


def dim_customers(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("dim_customers", "marts.dim_customers", ("customer_id",), (
        not_null("customer_id"),
        unique("customer_id"),
        between("orders_count_non_negative", "orders_count", "counts are >= 0", low=0),
        between("revenue_total_non_negative", "revenue_total", "revenue counts sold lines only, so >= 0", low=0),
        between("recency_non_negative", "recency_days", "the last order is not after the as-of day", low=0),
        Check("frequency_le_orders_count", "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "orders_count", "column_B": "frequency", "or_equal": True},
              "non-cancelled orders never exceed all orders"),
    ))


def dim_products(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("dim_products", "marts.dim_products", ("product_id",), (
        not_null("product_id"),
        unique("product_id"),
        between("price_positive", "price", "a price is positive when known", low=0, strict_low=True),
        between("avg_rating_1_to_5", "avg_rating", "an average of 1..5 ratings", low=1, high=5),
    ))


def fct_daily_sales(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("fct_daily_sales", "marts.fct_daily_sales", ("ds", "series"), (
        not_null("ds"),
        not_null("series"),
        unique_together("ds_series_unique", ["ds", "series"], "one row per day and series"),
        between("orders_non_negative", "orders", "order counts are >= 0", low=0),
    ))


def reconciliation(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("reconciliation", "marts.reconciliation", ("source", "landing_date"), (
        flag_true("is_balanced", "is_balanced", "landing rows = clean rows + quarantined rows: nothing silently dropped"),
        unique_together("source_day_unique", ["source", "landing_date"], "one balance per source and day"),
    ))


def customer_segments(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("customer_segments", "main.customer_segments", ("customer_id",), (
        not_null("customer_id"),
        unique("customer_id"),
        not_null("segment_id"),
        not_null("segment_name"),
    ))


def customer_recommendations(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("customer_recommendations", "main.customer_recommendations", ("customer_id", "rank", "product_id"), (
        not_null("customer_id"),
        not_null("product_id"),
        unique_together("customer_rank_unique", ["customer_id", "rank"], "one product per customer and rank"),
        between("rank_positive", "rank", "ranks start at 1", low=1),
        flag_true("product_in_dim_products", "_product_in_dim_products",
                  "recommended products exist in marts.dim_products"),
        unique_together("product_once_per_customer", ["customer_id", "product_id"],
                        "a product is recommended once per customer"),
    ))


def review_sentiment(frame: pd.DataFrame, p: RunParams) -> Suite:
    return Suite("review_sentiment", "main.review_sentiment", ("review_id",), (
        not_null("review_id"),
        unique("review_id"),
        between("sentiment_score_range", "sentiment_score", "scores are in [-1, 1]", low=-1, high=1),
        not_null("sentiment_score"),
        in_set("sentiment_label", SENTIMENT_LABELS, "labels are negative, neutral or positive"),
        not_null("sentiment_label"),
    ))


def sales_forecast(frame: pd.DataFrame, p: RunParams) -> Suite:
    key = ["series", "metric", "ds"] if "metric" in frame.columns else ["series", "ds"]
    return Suite("sales_forecast", "main.sales_forecast", tuple(key), (
        not_null("series"),
        not_null("ds"),
        not_null("yhat"),
        unique_together("series_ds_unique", key, "one forecast per series, metric and day"),
        Check("interval_contains_yhat", "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "yhat_upper", "column_B": "yhat_lower", "or_equal": True},
              "the prediction interval is not inverted"),
    ))


SuiteBuilder = Callable[[pd.DataFrame, RunParams], Suite]

# Frame name (what checkpoint.load_frames returns) -> suite builder, in report order.
SUITES: dict[str, SuiteBuilder] = {
    "stg_orders": stg_orders,
    "stg_orders_volume": stg_orders_volume,
    "stg_order_items": stg_order_items,
    "stg_customers": stg_customers,
    "stg_products": stg_products,
    "stg_web_events": stg_web_events,
    "stg_reviews": stg_reviews,
    "stg_support_tickets": stg_support_tickets,
    "fct_orders": fct_orders,
    "dim_customers": dim_customers,
    "dim_products": dim_products,
    "fct_daily_sales": fct_daily_sales,
    "reconciliation": reconciliation,
    "customer_segments": customer_segments,
    "customer_recommendations": customer_recommendations,
    "review_sentiment": review_sentiment,
    "sales_forecast": sales_forecast,
}

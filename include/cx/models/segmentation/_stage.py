"""The stage: read features, sentiment, activity and yesterday's segments; write the day's
segments and model_runs."""

from __future__ import annotations

import logging
from datetime import date
from functools import partial
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.model_runs import OUTPUT_SCHEMA, Metric
from cx.models._stage import StageOutput, run_stage
from cx.models.segmentation._config import FEATURES, INT_FEATURES, MODEL, SegmentationConfig
from cx.models.segmentation._core import segment_customers
from cx.models.segmentation._features import order_activity
from cx.models.sentiment import aggregate_sentiment
from cx.warehouse import read_df, table_exists

log = logging.getLogger(__name__)


def _profile_details(profiles: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Segment profiles in original units, for analysts reading model_runs."""
    if profiles.empty:
        return {}
    values = profiles.drop(columns=["segment_id", "size", "population"]).set_index("segment_name")
    return {
        str(name): {k: None if pd.isna(v) else round(float(v), 3) for k, v in row.items()}
        for name, row in values.iterrows()
    }


def _read_inputs(
    con: Any, as_of: date, cfg: SegmentationConfig | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, int]:
    cfg = cfg or SegmentationConfig()
    if not table_exists(con, "customer_features", "marts"):
        return None, None, 1
    features = read_df(con, "select * from marts.customer_features", order_by=["customer_id"])
    sentiment = _read_sentiment(con, as_of)
    if sentiment is not None and len(sentiment):
        features = features.drop(columns=["avg_sentiment"], errors="ignore").merge(
            sentiment[["customer_id", "avg_sentiment"]], on="customer_id", how="left"
        )
    activity = _read_activity(con, as_of, cfg)
    if activity is not None and len(activity):
        features = features.drop(columns=list(activity.columns.drop("customer_id")), errors="ignore").merge(
            activity, on="customer_id", how="left"
        )
    previous, min_new_id = None, 1
    if table_exists(con, "customer_segments", OUTPUT_SCHEMA):
        previous = read_df(
            con,
            f"select customer_id, segment_id, segment_name from {OUTPUT_SCHEMA}.customer_segments "
            f"where as_of_date = (select max(as_of_date) from {OUTPUT_SCHEMA}.customer_segments where as_of_date < ?)",
            [as_of],
            order_by=["customer_id"],
        )
        row = con.execute(
            f"select max(segment_id) from {OUTPUT_SCHEMA}.customer_segments where as_of_date < ?", [as_of]
        ).fetchone()
        min_new_id = int(row[0]) + 1 if row and row[0] is not None else 1
        version = _previous_version(con, as_of)
        if previous is not None and version is not None and version != cfg.model_version:
            # Another model drew yesterday's segments: inheriting its names would carry
            # its mistakes forward. Ids stay unique (min_new_id), identities start afresh.
            log.info("segmentation: previous segments came from %s, not %s: not matched", version, cfg.model_version)
            previous = None
    return features, previous, min_new_id


def _previous_version(con: Any, as_of: date) -> str | None:
    """model_version of the latest segmentation run before ``as_of``, if recorded."""
    if not table_exists(con, "model_runs", OUTPUT_SCHEMA):
        return None
    row = con.execute(
        f"select model_version from {OUTPUT_SCHEMA}.model_runs where model = ? and as_of_date < ? "
        "order by as_of_date desc limit 1",
        [MODEL, as_of],
    ).fetchone()
    return None if not row or row[0] is None else str(row[0])


def _read_activity(con: Any, as_of: date, cfg: SegmentationConfig) -> pd.DataFrame | None:
    """Order trend and price point per customer from marts.fct_orders, if it exists."""
    if not table_exists(con, "fct_orders", "marts"):
        return None
    have = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'fct_orders'"
        ).fetchall()
    }
    if not {"customer_id", "order_date"} <= have:
        return None
    cols = [c for c in ("customer_id", "order_date", "status", "units", "order_amount") if c in have]
    orders = read_df(
        con,
        f"select {', '.join(cols)} from marts.fct_orders where customer_id is not null and order_date <= ?",
        [as_of],
        order_by=["customer_id"],
    )
    return order_activity(orders, as_of, cfg)


def _read_sentiment(con: Any, as_of: date) -> pd.DataFrame | None:
    """Per-customer mean sentiment from this run's sentiment outputs, if they exist."""
    if not table_exists(con, "fct_texts", "marts"):
        return None
    parts = []
    for table, key in (("review_sentiment", "review_id"), ("ticket_sentiment", "ticket_id")):
        if table_exists(con, table, OUTPUT_SCHEMA):
            parts.append(
                read_df(
                    con,
                    f"select {key}, sentiment_score from {OUTPUT_SCHEMA}.{table} where as_of_date = ?",
                    [as_of],
                    order_by=[key],
                )
            )
    if not parts or all(p.empty for p in parts):
        return None
    texts = read_df(con, "select text_id, source, customer_id, product_id from marts.fct_texts", order_by=["text_id"])
    per_customer, _ = aggregate_sentiment(pd.concat(parts, ignore_index=True), texts)
    return per_customer


def _add_new_columns(con: Any, output: StageOutput) -> None:
    """Add feature columns that an older version of the table lacks (the contract
    promises "the features used"), so the by-name insert does not fail."""
    for table, frame in output.partitions.items():
        if not table_exists(con, table, OUTPUT_SCHEMA):
            continue
        have = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [OUTPUT_SCHEMA, table],
            ).fetchall()
        }
        for name in frame.columns:
            if name not in have and name in FEATURES:
                sql_type = "BIGINT" if name in INT_FEATURES else "DOUBLE"
                con.execute(f'alter table {OUTPUT_SCHEMA}."{table}" add column "{name}" {sql_type}')


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Segment today's customers into model_outputs.customer_segments + model_runs (publish copies them)."""
    settings = settings or load_settings()
    cfg = SegmentationConfig(seed=settings.seed)
    return run_stage(
        MODEL, as_of, settings, partial(_read, as_of=as_of, cfg=cfg), partial(_compute, cfg=cfg), _add_new_columns
    )


def _read(con: Any, as_of: date, cfg: SegmentationConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, int]:
    features, previous, min_new_id = _read_inputs(con, as_of, cfg)
    if features is None:
        raise NothingToDo("marts.customer_features is missing")
    if features.empty:
        raise NothingToDo("marts.customer_features is empty")
    return features, previous, min_new_id


def _compute(inputs: tuple[pd.DataFrame, pd.DataFrame | None, int], cfg: SegmentationConfig) -> StageOutput:
    features, previous, min_new_id = inputs
    result = segment_customers(features, cfg, previous, min_new_id=min_new_id)
    m = result.metrics
    details = {
        "sizes": m["sizes"],
        "segment_ids": m["segment_ids"],
        "features_used": m["features_used"],
        "features_dropped": m["features_dropped"],
        "silhouette_by_k": m["silhouette_by_k"],
        "populations": m["populations"],
        "k_selection": "mean rank of silhouette, Calinski-Harabasz and Davies-Bouldin among buyers; "
        f"customers without orders split only at silhouette >= {cfg.non_buyer_split_silhouette}",
    }
    metrics = [
        Metric(
            "silhouette",
            m["silhouette"],
            None,
            None if m["silhouette"] is None else m["silhouette"] >= cfg.min_silhouette,
            details,
        ),
        Metric("k", float(m["k"]), details={"sizes": m["sizes"], "profiles": _profile_details(result.profiles)}),
        Metric(
            "stability",
            m["stability"],
            None,
            None if m["stability"] is None else m["stability"] >= cfg.min_stability,
            {"matched_segments": m["matched_segments"], "previous": previous is not None and len(previous) > 0},
        ),
        Metric("customers", float(m["customers"])),
    ]
    summary = {
        "rows": len(result.assignments),
        "k": m["k"],
        "silhouette": m["silhouette"],
        "stability": m["stability"],
        "sizes": m["sizes"],
        "model_version": cfg.model_version,
    }
    return StageOutput({"customer_segments": result.assignments}, [(cfg.model_version, metrics)], summary)

"""The stage: read the order, web and text history and the CRM's consent; write the
day's customer_value and retention_targets, model_runs, and the day's models."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.model_runs import OUTPUT_SCHEMA, Metric
from cx.models._stage import StageOutput, keep_artifact, run_stage
from cx.models.retention._config import MODEL, RetentionConfig
from cx.models.retention._core import (
    BASELINES,
    CANDIDATE_VERSIONS,
    DECIDING,
    REPORTED,
    RISK,
    VALUE,
    RetentionResult,
    score_customers,
)
from cx.models.retention._features import ORDER_COLUMNS, day_numbers, transactions
from cx.models.retention._targets import target_list
from cx.warehouse import read_df, table_exists


def _columns(con: Any, schema: str, table: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }


def read_consent(con: Any) -> pd.DataFrame | None:
    """marts.dim_customers' marketing_consent when the CRM provides the column, else None
    (every customer's consent unknown: none is excluded)."""
    if not table_exists(con, "dim_customers", "marts") or "marketing_consent" not in _columns(
        con, "marts", "dim_customers"
    ):
        return None
    return read_df(
        con,
        "select customer_id, marketing_consent from marts.dim_customers where marketing_consent is not null",
        order_by=["customer_id"],
    )


def _read(con: Any, as_of: date) -> dict[str, Any]:
    if not table_exists(con, "fct_orders", "marts"):
        raise NothingToDo("marts.fct_orders is missing")
    orders = read_df(
        con,
        f"select {', '.join(ORDER_COLUMNS)} from marts.fct_orders where customer_id is not null and order_date <= ?",
        [as_of],
        order_by=["customer_id", "order_date"],
    )
    if not orders["is_purchase"].fillna(False).any():
        raise NothingToDo(f"no purchase on or before {as_of}")
    web = None
    if table_exists(con, "fct_interactions", "marts"):
        web = read_df(
            con,
            "select customer_id, occurred_at::date as day, count(*) filter (where interaction_type = 'product_view') "
            "as views, count(*) filter (where interaction_type = 'add_to_cart') as carts from marts.fct_interactions "
            "where interaction_type in ('product_view', 'add_to_cart') and occurred_at < ?::date + 1 group by all",
            [as_of],
            order_by=["customer_id", "day"],
        )
        web = web.assign(day=day_numbers(web["day"])) if len(web) else None
    texts = None
    if table_exists(con, "fct_texts", "marts"):
        scores = []
        for table, source in (("review_sentiment", "review"), ("ticket_sentiment", "ticket")):
            if table_exists(con, table, OUTPUT_SCHEMA):
                key = f"{source}_id"
                scores.append(
                    f"select {key} as text_id, '{source}' as source, sentiment_score from {OUTPUT_SCHEMA}.{table} "
                    f"where as_of_date = date '{as_of.isoformat()}'"
                )
        scored = (
            " union all ".join(scores)
            or "select null::varchar as text_id, null::varchar as source, null::double as sentiment_score"
        )
        texts = read_df(
            con,
            f"with scores as ({scored}) select t.customer_id, t.created_at::date as day, t.source, t.rating, "
            "s.sentiment_score from marts.fct_texts t left join scores s using (text_id, source) "
            "where t.customer_id is not null and t.created_at < ?::date + 1",
            [as_of],
            order_by=["customer_id", "day", "source"],
        )
        texts = texts.assign(day=day_numbers(texts["day"])) if len(texts) else None
    return {"tx": transactions(orders), "web": web, "texts": texts, "consent": read_consent(con)}


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Score every buyer's risk and value as of ``as_of``: model_outputs.customer_value,
    retention_targets and model_runs (publish copies them); the day's models kept beside them."""
    settings = settings or load_settings()
    cfg = RetentionConfig.from_settings(settings)
    artifact = settings.models_dir / "retention" / f"{as_of}.pkl"
    return run_stage(
        MODEL, as_of, settings, partial(_read, as_of=as_of), partial(_compute, as_of=as_of, cfg=cfg, artifact=artifact)
    )


def compute(inputs: dict[str, Any], as_of: date, cfg: RetentionConfig) -> tuple[RetentionResult, pd.DataFrame]:
    """The day's scores and target list from the stage's inputs (no warehouse)."""
    result = score_customers(inputs["tx"], as_of, cfg, inputs.get("web"), inputs.get("texts"))
    return result, target_list(result.values, inputs.get("consent"), cfg)


def _compute(inputs: dict[str, Any], as_of: date, cfg: RetentionConfig, artifact: Path) -> StageOutput:
    result, targets = compute(inputs, as_of, cfg)
    keep_artifact(
        artifact,
        {
            "model_version": result.model_version,
            "models": result.models,
            "config": cfg,
            "holdout": result.holdout,
            "chosen": result.chosen,
            "details": result.details,
        },
    )
    summary = {
        "rows": len(result.values),
        "targets": len(targets),
        "model_version": result.model_version,
        "label_free": result.label_free,
        # One string: the run summary sums nested numbers.
        "risk_bands": ", ".join(f"{band} {n:,}" for band, n in result.values["risk_band"].value_counts().items()),
        "artifact": str(artifact),
    }
    if result.label_free:
        summary["why_label_free"] = result.details.get("label_free_reason")
    return StageOutput({"customer_value": result.values, "retention_targets": targets}, run_rows(result), summary)


def run_rows(result: RetentionResult) -> list[tuple[str, list[Metric]]]:
    """model_runs: the published version's holdout metrics against the baselines (passed:
    it beat them beyond noise), and every candidate's own, so each choice can be traced."""
    d = result.details
    info = [Metric("customers", float(d["customers"])), Metric("history_days", float(d["history_days"]), details=d)]
    if result.label_free:
        return [
            (
                result.model_version,
                [*info, Metric("label_free", 1.0, None, None, {"reason": d.get("label_free_reason")})],
            )
        ]
    published: list[Metric] = []
    for target in (RISK, VALUE):
        name = result.chosen[target]
        for metric in REPORTED[target]:
            m = result.holdout[name][metric]
            # The deciding metric's flag is the gate: did a candidate beat the baseline beyond noise?
            passed = name != "baseline" if metric == DECIDING[target] else None
            published.append(Metric(metric, m["value"], m["baseline"], passed, {"candidate": name, "z": m["z"]}))
    runs = [(result.model_version, [*published, *info])]
    for name, row in result.holdout.items():
        version = CANDIDATE_VERSIONS.get(name, f"{BASELINES[RISK]}+{BASELINES[VALUE]}")
        metrics = [
            # Named per candidate: model_runs holds one value per model, metric and day.
            Metric(f"holdout_{metric}:{name}", m["value"], m["baseline"], None, {"z": m["z"]})
            for metric, m in row.items()
        ]
        runs.append((f"candidate:{version}", metrics))
    return runs

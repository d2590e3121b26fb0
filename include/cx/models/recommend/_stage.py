"""The stage: read the marts, run the core, keep the model, write the day's lists and model_runs."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.model_runs import OUTPUT_SCHEMA
from cx.models._stage import StageOutput, keep_artifact, run_stage
from cx.models.recommend._baselines import DAY
from cx.models.recommend._config import INTERACTION_COLUMNS, MODEL_NAME, RecommendConfig
from cx.models.recommend._core import recommend, result_metrics
from cx.row_order import order_by_sql
from cx.warehouse import read_df, read_large_df, table_exists


def _read_inputs(con: Any, as_of: date) -> dict[str, pd.DataFrame | None]:
    end = pd.Timestamp(as_of) + DAY
    frames: dict[str, pd.DataFrame | None] = {
        "interactions": read_large_df(
            con,
            f"select {', '.join(INTERACTION_COLUMNS)} from marts.fct_interactions "
            f"where occurred_at < ? and customer_id is not null {order_by_sql(INTERACTION_COLUMNS)}",
            [end.to_pydatetime()],
            categorical=("customer_id", "product_id", "interaction_type"),
        ),
        "products": read_df(con, "select * from marts.dim_products"),
        "customers": read_df(con, "select * from marts.dim_customers")
        if table_exists(con, "dim_customers", "marts")
        else pd.DataFrame(columns=["customer_id"]),
        "segments": None,
    }
    if table_exists(con, "customer_segments", OUTPUT_SCHEMA):
        frames["segments"] = read_df(
            con,
            f"select customer_id, segment_name from {OUTPUT_SCHEMA}.customer_segments where as_of_date = ?",
            [as_of],
            order_by=["customer_id"],
        )
    return frames


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Recommend for every customer as of ``as_of``: model_outputs.customer_recommendations
    and model_runs (publish copies them), the day's recommender kept beside them."""
    settings = settings or load_settings()
    cfg = RecommendConfig.from_settings(settings)
    artifact = settings.models_dir / "recommend" / f"{as_of}.pkl"
    compute = partial(_compute, as_of=as_of, cfg=cfg, artifact=artifact)
    return run_stage(MODEL_NAME, as_of, settings, partial(_read, as_of=as_of), compute)


def _read(con: Any, as_of: date) -> dict[str, pd.DataFrame | None]:
    if not (table_exists(con, "fct_interactions", "marts") and table_exists(con, "dim_products", "marts")):
        raise NothingToDo("marts.fct_interactions or marts.dim_products missing")
    frames = _read_inputs(con, as_of)
    interactions = frames["interactions"]
    assert interactions is not None and frames["products"] is not None and frames["customers"] is not None
    if interactions.empty:
        raise NothingToDo(f"no interactions up to {as_of}")
    interactions["occurred_at"] = pd.to_datetime(interactions["occurred_at"])
    return frames


def _compute(frames: dict[str, Any], as_of: date, cfg: RecommendConfig, artifact: Path) -> StageOutput:
    result = recommend(frames["interactions"], frames["products"], frames["customers"], frames["segments"], as_of, cfg)
    keep_artifact(
        artifact,
        {
            "model_version": result.model_version,
            "recommender": result.recommender,
            "blend": result.blend,
            "config": cfg,
            "metrics": result.metrics,
            "details": result.details,
        },
    )
    metrics = result_metrics(result, cfg.eval_k)
    summary = {
        "rows": len(result.recommendations),
        "customers": int(result.recommendations["customer_id"].nunique()),
        "model_version": result.model_version,
        "passed": result.passed,
        "blend": result.blend,
        **{m.metric: m.value for m in metrics},
        "baseline_p@k": metrics[0].baseline_value,
        "plain_lightfm_p@k": result.metrics["lightfm"].get("precision"),
        "artifact": str(artifact),
    }
    return StageOutput({"customer_recommendations": result.recommendations}, [(result.model_version, metrics)], summary)

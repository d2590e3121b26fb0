"""The stage: read the marts, run the core, keep the model, write the day's lists and model_runs."""

from __future__ import annotations

import logging
import pickle
import time
from datetime import date
from typing import Any

import pandas as pd

from cx.config import Settings, load_settings
from cx.model_runs import OUTPUT_SCHEMA, write_model_runs
from cx.models.recommend._baselines import DAY
from cx.models.recommend._config import INTERACTION_COLUMNS, MODEL_NAME, RecommendConfig
from cx.models.recommend._core import recommend, result_metrics
from cx.row_order import order_by_sql
from cx.warehouse import connect, read_df, read_large_df, replace_partition, table_exists

log = logging.getLogger(__name__)

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
            con, f"select customer_id, segment_name from {OUTPUT_SCHEMA}.customer_segments where as_of_date = ?", [as_of],
            order_by=["customer_id"],
        )
    return frames


def run(as_of: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    cfg = RecommendConfig.from_settings(settings)
    started = time.monotonic()
    with connect(settings) as con:
        if not (table_exists(con, "fct_interactions", "marts") and table_exists(con, "dim_products", "marts")):
            log.info("recommendations skipped: marts.fct_interactions or marts.dim_products missing")
            return {"skipped": "marts.fct_interactions or marts.dim_products missing"}
        frames = _read_inputs(con, as_of)
    interactions = frames["interactions"]
    assert interactions is not None and frames["products"] is not None and frames["customers"] is not None
    if interactions.empty:
        log.info("recommendations skipped: no interactions up to %s", as_of)
        return {"skipped": f"no interactions up to {as_of}"}
    interactions["occurred_at"] = pd.to_datetime(interactions["occurred_at"])

    result = recommend(interactions, frames["products"], frames["customers"], frames["segments"], as_of, cfg)

    path = settings.models_dir / "recommend" / f"{as_of}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(
            {
                "model_version": result.model_version,
                "recommender": result.recommender,
                "blend": result.blend,
                "config": cfg,
                "metrics": result.metrics,
                "details": result.details,
            },
            handle,
        )
    metrics = result_metrics(result, cfg.eval_k)
    with connect(settings) as con:
        written = replace_partition(con, "customer_recommendations", result.recommendations, as_of,
                                    schema=OUTPUT_SCHEMA)
        write_model_runs(con, MODEL_NAME, result.model_version, metrics, as_of)
    summary = {
        "rows": written,
        "customers": int(result.recommendations["customer_id"].nunique()),
        "model_version": result.model_version,
        "passed": result.passed,
        "blend": result.blend,
        **{m.metric: m.value for m in metrics},
        "baseline_p@k": metrics[0].baseline_value,
        "plain_lightfm_p@k": result.metrics["lightfm"].get("precision"),
        "artifact": str(path),
        "seconds": round(time.monotonic() - started, 1),
    }
    log.info("recommendations %s", summary)
    return summary

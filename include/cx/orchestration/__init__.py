"""The Airflow side of the pipeline, imported by the DAG file at parse time: keep it
light (no database, no ML or GX imports at module level).

docs:      the DAG's documentation
defaults:  default args, time limits, the writer pool, pipeline errors -> task states
ordering:  the run's window, runs of other days, the ML cadence gate
stages:    publish, freshness alerts, dbt docs, the published assets
cosmos:    dbt through Cosmos behind the writer lock
telemetry: telemetry off, in one place
"""

from cx.orchestration.cosmos import dbt_task_env, locked_dbt_executable, report_models_after_build
from cx.orchestration.defaults import (
    DUCKDB_POOL,
    QUICK_TIMEOUT,
    STAGE_TIMEOUT,
    WAIT_TIMEOUT,
    default_args,
    log_failure,
    map_errors,
)
from cx.orchestration.docs import DAG_DOC
from cx.orchestration.ordering import (
    NEIGHBOUR_DAYS,
    RUN_DAY,
    count_other_runs,
    earlier_days_done,
    orders_runs,
    run_type_of,
    run_window,
    run_window_from_context,
    training_decision,
)
from cx.orchestration.stages import dbt_docs_run, freshness_run, publish_run, published_assets
from cx.orchestration.telemetry import TELEMETRY_OFF, disable_telemetry

__all__ = [
    "DAG_DOC",
    "DUCKDB_POOL",
    "NEIGHBOUR_DAYS",
    "QUICK_TIMEOUT",
    "RUN_DAY",
    "STAGE_TIMEOUT",
    "TELEMETRY_OFF",
    "WAIT_TIMEOUT",
    "count_other_runs",
    "dbt_docs_run",
    "dbt_task_env",
    "default_args",
    "disable_telemetry",
    "earlier_days_done",
    "freshness_run",
    "locked_dbt_executable",
    "log_failure",
    "map_errors",
    "orders_runs",
    "publish_run",
    "published_assets",
    "report_models_after_build",
    "run_type_of",
    "run_window",
    "run_window_from_context",
    "training_decision",
]

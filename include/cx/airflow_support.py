"""Small helpers the DAG files share. Imported at DAG parse time: keep it light
(no database, no ML or GX imports at module level)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from cx.config import PUBLISHED_TABLES
from cx.pipeline import RunWindow

log = logging.getLogger(__name__)

# Airflow pool with one slot for the tasks that write the DuckDB file (DuckDB allows
# one writer); created by `make airflow-init` / the compose init service.
DUCKDB_POOL = "cx_duckdb"

DAG_DOC = """
### cx_daily

One run per **extraction day** `D` (the landing zone's date folder):

1. `check_landing_files`: what arrived under `$CX_LANDING_DIR/<source>/D/`.
2. `load_landing`: DuckDB reads the files into the `landing` schema (unparseable rows
   are kept as rejects, never dropped).
3. `dbt`: one `dbt build` (Cosmos watcher mode) over staging → intermediate → marts;
   each model is a task here, but dbt runs once.
4. `validate`: Great Expectations on the day's partition; critical failures stop the
   model stages. Results in `main.dq_results`, Data Docs under the artifacts folder.
5. `models`: sentiment → segmentation → recommendations, and forecasting.
6. `publish`: the contract's tables in `main`.

**Bulk load**: trigger with `range_start` (e.g. `{"range_start": "2024-01-01"}`) to
build all days from `range_start` to the run's date in one run.
"""


def default_args() -> dict[str, Any]:
    return {
        "owner": "cx-data",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": log_failure,
    }


def log_failure(context: dict[str, Any]) -> None:
    """Log an actionable line when a task fails for good."""
    ti = context.get("task_instance")
    exc = context.get("exception")
    log.error(
        "cx task failed: dag=%s task=%s run=%s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        exc,
    )


def published_assets() -> list:
    """One Airflow Asset per published table, so other DAGs can schedule on them."""
    from airflow.sdk import Asset

    return [Asset(name=f"cx.{table}", uri=f"cx://warehouse/main/{table}") for table in PUBLISHED_TABLES]


def run_window_from_context(context: Any) -> RunWindow:
    params = context.get("params") or {}
    return RunWindow.resolve(date.fromisoformat(context["ds"]), params.get("range_start"))


def publish_run(as_of: date) -> dict:
    from cx.publish import publish
    from cx.warehouse import connect

    with connect() as con:
        counts = publish(con, as_of)
    log.info("published rows for %s: %s", as_of, counts)
    return counts


def report_models_after_build(dbt_group: Any) -> None:
    """Order Cosmos watcher sensors after the single `dbt build` producer.

    In watcher mode one producer task runs `dbt build` and one sensor per model
    reports that model's status. Left in parallel, a sensor scheduled before the
    producer blocks a sequential executor (`airflow dags test`, the embedded default)
    forever. After the producer, each sensor finds its status at once, so the UI
    still shows every model's outcome and dbt still runs once. ``all_done`` lets the
    sensors report which models failed when the build fails.
    """
    tasks = list(dbt_group.iter_tasks())
    producer = next(t for t in tasks if t.task_id.endswith("dbt_producer_watcher"))
    for sensor in tasks:
        if sensor is producer or sensor.task_id.endswith("dbt_producer_watcher_done"):
            continue
        producer >> sensor
        sensor.trigger_rule = "all_done"

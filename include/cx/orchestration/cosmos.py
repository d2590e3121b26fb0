"""Cosmos (dbt in Airflow) adjusted to this pipeline: dbt behind the warehouse writer
lock, one `dbt build` whose model tasks report after it, dbt errors not retried."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cx.config import Settings, dbt_process_env
from cx.errors import DBT_HANDLED_ERROR_EXIT
from cx.orchestration.defaults import DUCKDB_POOL


def locked_dbt_executable() -> str:
    """The dbt executable Cosmos runs: dbt behind the warehouse writer lock (bin/dbt-locked)."""
    return str(Path(__file__).resolve().parents[1] / "bin" / "dbt-locked")


def dbt_task_env(settings: Settings) -> dict[str, str]:
    """Environment of Cosmos' dbt processes, on top of the worker's own environment.

    Rendered into each dbt task's fields (visible in the UI), so no secret goes here:
    dbt reads CX_PII_SALT from the worker's environment.
    """
    return dbt_process_env(settings)


def report_models_after_build(dbt_group: Any) -> None:
    """Order Cosmos watcher sensors after the single `dbt build` producer.

    In watcher mode one producer task runs `dbt build` and one sensor per model
    reports that model's status. Left in parallel, a sensor scheduled before the
    producer blocks a sequential executor (`airflow dags test`, the embedded default)
    forever. After the producer, each sensor finds its status at once, so the UI
    still shows every model's outcome and dbt still runs once. ``all_done`` lets the
    sensors report which models failed when the build fails.

    Only the producer writes the warehouse, so only it takes the ``cx_duckdb`` pool
    slot; the sensors merely read its results (a sensor that falls back to running
    its model itself, after a clear, takes the writer lock through bin/dbt-locked).
    """
    from airflow.sdk import TriggerRule

    tasks = list(dbt_group.iter_tasks())
    producer = next(t for t in tasks if t.task_id.endswith("dbt_producer_watcher"))
    producer.pool = DUCKDB_POOL
    # The DAG renders no task per dbt test (TestBehavior.NONE: each would be one more
    # task start on every day of a backfill), for which Cosmos restricts the build to
    # models, seeds and snapshots; the tests belong in the build, so lift that filter.
    flags = list(getattr(producer, "dbt_cmd_flags", None) or [])
    kept: list[str] = []
    while flags:
        flag = flags.pop(0)
        if flag == "--resource-type" and flags:
            flags.pop(0)
            continue
        kept.append(flag)
    # dbt unit tests check the SQL, not the day's data: they run in the test suite.
    producer.dbt_cmd_flags = [*kept, "--exclude-resource-type", "unit_test"]
    producer.doc_md = (
        "Runs the one `dbt build` of this run (staging → intermediate → marts, with tests) "
        "under the warehouse writer lock; the other tasks of this group report each model."
    )
    producer.handle_exception_subprocess = _dbt_exit_handler(producer)
    for sensor in tasks:
        if sensor is producer or sensor.task_id.endswith("dbt_producer_watcher_done"):
            continue
        producer >> sensor
        sensor.trigger_rule = TriggerRule.ALL_DONE
        sensor.pool = "default_pool"
        sensor.execute = _not_retried_after_failed_build(sensor, sensor.execute)


def _dbt_exit_handler(producer: Any) -> Callable[[Any], None]:
    """The producer's verdict on its `dbt build`: exit 1 (dbt's handled errors: a failing
    model, test or compile) fails the task without retries, with dbt's error lines in the
    message; other codes (75: the writer lock timed out, a killed dbt) keep Cosmos'
    handling and the retries."""
    cosmos_handler = producer.handle_exception_subprocess

    def handle(result: Any) -> None:
        if result.exit_code == DBT_HANDLED_ERROR_EXIT:
            from airflow.sdk.exceptions import AirflowFailException

            from cx.runner.verdict import dbt_error_lines

            errors = dbt_error_lines(result.full_output or [])
            raise AirflowFailException(
                "dbt build failed (not retried: the same build fails the same way): "
                + (" | ".join(errors) or "see the dbt output above")
            )
        cosmos_handler(result)

    return handle


def _not_retried_after_failed_build(sensor: Any, execute: Callable[..., Any]) -> Callable[..., Any]:
    """A model task's execute that does not retry, nor re-run its model, once the build failed
    deterministically (the producer FAILED: Cosmos' retries skip it instead). Cosmos would
    otherwise run the failed model again on each retry, and every model the build did not
    reach once more on its own."""

    def run(context: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        failed_build = sensor._get_producer_task_status(context) == "failed"
        if failed_build and sensor._get_node_status(context["ti"], context) is None:
            raise AirflowFailException(
                f"not built: the dbt build failed before {sensor.model_unique_id} ran (see {sensor.producer_task_id})"
            )
        try:
            return execute(context, **kwargs)
        except (AirflowFailException, AirflowSkipException):
            raise
        except Exception as error:
            if failed_build:
                raise AirflowFailException(str(error)) from error
            raise

    return run

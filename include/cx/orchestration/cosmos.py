"""Cosmos (dbt in Airflow) adjusted to this pipeline: dbt behind the warehouse writer
lock, one `dbt build` whose model tasks report after it, dbt errors not retried."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from cx.config import Settings, dbt_process_env
from cx.errors import DBT_HANDLED_ERROR_EXIT
from cx.orchestration.defaults import DUCKDB_POOL

# The producer's try number, which its model tasks compare with their own: equal means
# the build they report ran in this round (a first run, or a cleared day).
BUILD_TRY_KEY = "cx_build_try"


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
    producer.execute = _build_on_every_try(producer)
    for sensor in tasks:
        if sensor is producer or sensor.task_id.endswith("dbt_producer_watcher_done"):
            continue
        producer >> sensor
        sensor.trigger_rule = TriggerRule.ALL_DONE
        sensor.pool = "default_pool"
        sensor.execute = _report_this_rounds_build(sensor)


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


@contextmanager
def _as_first_try(ti: Any) -> Iterator[None]:
    """Cosmos' watcher tasks decide by the try number alone: a producer skips any try after
    the first, and a model task past its first try runs its model by itself. Presented as
    a first try, they run (or report) the build of this round."""
    tries = ti.try_number
    ti.try_number = 1
    try:
        yield
    finally:
        ti.try_number = tries


def _build_on_every_try(producer: Any) -> Callable[..., Any]:
    """The producer's execute: every try runs the one `dbt build`.

    Cosmos skips a producer's later tries, after which each model task runs its own model
    with `dbt run` (one dbt process per model, no data tests). Here a cleared day, or a
    retry after a writer-lock timeout, builds once more, tests included: the build is
    idempotent for the run's window, and dbt's own errors are not retried (see
    `_dbt_exit_handler`)."""

    def run(context: Any, **kwargs: Any) -> Any:
        # Airflow executes a rendered copy of the task, not the object this DAG file built.
        task = context.get("task", producer)
        ti = context["ti"]
        ti.xcom_push(key=BUILD_TRY_KEY, value=ti.try_number)
        with _as_first_try(ti):
            return type(task).execute(task, context, **kwargs)

    return run


def _report_this_rounds_build(sensor: Any) -> Callable[..., Any]:
    """A model task's execute: it reports the model's result in this round's build.

    Once the build failed deterministically (the producer FAILED) it neither retries nor
    runs its model again: Cosmos would run the failed model again on each retry, and
    every model the build did not reach once more on its own. When only this task was
    cleared, or it is retried on its own, Cosmos runs its model alone, with the run's
    rendered window."""

    def run(context: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        task = context.get("task", sensor)
        ti = context["ti"]
        failed_build = task._get_producer_task_status(context) == "failed"
        if failed_build and task._get_node_status(ti, context) is None:
            raise AirflowFailException(
                f"not built: the dbt build failed before {task.model_unique_id} ran (see {task.producer_task_id})"
            )
        built_this_round = ti.xcom_pull(task_ids=task.producer_task_id, key=BUILD_TRY_KEY) == ti.try_number
        report: AbstractContextManager[None] = _as_first_try(ti) if built_this_round else nullcontext()
        try:
            with report:
                return type(task).execute(task, context, **kwargs)
        except (AirflowFailException, AirflowSkipException):
            raise
        except Exception as error:
            if failed_build:
                raise AirflowFailException(str(error)) from error
            raise

    return run

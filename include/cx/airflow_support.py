"""Small helpers the DAG files share. Imported at DAG parse time: keep it light
(no database, no ML or GX imports at module level)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cx.alerts import CxFailureNotifier
from cx.config import PUBLISHED_TABLES, Settings, dbt_process_env
from cx.errors import DBT_HANDLED_ERROR_EXIT, DeterministicError
from cx.pipeline import RunWindow

log = logging.getLogger(__name__)

# Airflow pool with one slot for the long warehouse writers (ingest, dbt build,
# validation, publish): DuckDB allows one writer, so queueing them in Airflow keeps
# worker slots free instead of waiting on the lock. Created by `make airflow-init` /
# the compose init service. Short writers (freshness, model outputs) only take the
# lock (cx.warehouse.connect), and dbt takes it through bin/dbt-locked.
DUCKDB_POOL = "cx_duckdb"

# How many days before/after its own a run looks at for other runs (earlier ones
# still in flight, later ones that exist). Backfills create one run per day and keep
# at most max_active_runs in flight, so the neighbours that matter are close by.
NEIGHBOUR_DAYS = 31
RUN_DAY = timedelta(days=1)  # the DAG's schedule is @daily: one run per extraction day

DAG_DOC = """
### cx_daily

One run per **extraction day** `D` (the landing zone's date folder):

1. `check_landing_files`: what arrived under `$CX_LANDING_DIR/<source>/D/`.
2. `check_freshness`: each source's latest delivery against its SLA
   (`CX_FRESHNESS_SLA_DAYS`); stale sources are logged, alerted and recorded in
   `main.source_freshness` (the run fails only with `CX_FRESHNESS_FAIL=true`).
3. `wait_for_earlier_days`: in backfills and catch-up, waits until the runs of
   earlier days have finished. The marts describe the newest day processed, so the
   days go through the warehouse (steps 4-10) one at a time, in date order.
4. `load_landing`: DuckDB reads the files into the `landing` schema (unparseable rows
   are kept as rejects, never dropped) and records every day of the run as processed,
   whether anything arrived or not: the marts describe the newest processed day (their
   `as_of_date`), even one on which no source delivered; `source_freshness` says which
   source is late.
5. `dbt`: one `dbt build` (Cosmos watcher mode) over staging → intermediate → marts;
   each model is a task here, but dbt runs once.
6. `validate`: Great Expectations (stage `inputs`) on the day's partition and the
   marts; critical failures stop the model stages. Results in `main.dq_results`,
   Data Docs under the artifacts folder.
7. `should_train_models`: the ML cadence (`CX_ML_CADENCE`, or the run's `ml_cadence`
   param): `daily`, `weekly`, or `latest` (only the newest run, e.g. the last day
   of a backfill). When it says no, the model stages are skipped and publish
   keeps the latest models' outputs.
8. `models`: sentiment → segmentation → recommendations, and forecasting; they write
   to the `model_outputs` schema, not to what users read.
9. `publish`: the one step that changes `main`, in one transaction: the day's model
   outputs, the dimensions, order facts, quarantine and reconciliation. A run that fails
   or is killed before or during it leaves every published table at the previous day.
10. `validate_published`: Great Expectations (stage `published`) on the contract's
    tables as users read them.

Several runs at once (`max_active_runs`, `--max-active-runs`) are safe: tasks that
write the DuckDB file share the `cx_duckdb` pool and the writer lock, and step 3
keeps the days in order.

**Backfills**: `airflow backfill create --dag-id cx_daily --from-date ... --to-date ...`;
add `--dag-run-conf '{"ml_cadence": "latest"}'` to train the models once, on the
backfill's last day. Do not use `--run-backwards`: days must be built in order.
Re-runs and cleared tasks replace their day's partitions, so they are idempotent.

**Bulk load**: trigger with `range_start` (e.g. `{"range_start": "2024-01-01"}`) to
build all days from `range_start` to the run's date in one run.

**Retries**: critical data-quality failures, invalid settings and failing dbt models
or tests fail their task at once (retrying cannot change them); lock timeouts and
lost workers are retried.

**Alerts**: set `CX_ALERT_CONN_ID` to an Airflow connection (http webhook, smtp, or
Slack webhook when its provider is installed) to be notified of failed tasks and
stale sources. Off by default.
"""


def default_args() -> dict[str, Any]:
    return {
        "owner": "cx-data",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        # Called once a task has failed for good (after its retries).
        "on_failure_callback": [log_failure, CxFailureNotifier()],
    }


F = TypeVar("F", bound=Callable[..., Any])


def no_retry(func: F) -> F:
    """A task callable whose deterministic failures (cx.errors.DeterministicError: a
    critical data-quality gate, bad configuration) fail the task at once: retrying
    cannot change them. Other errors (a lock timeout, a lost worker) keep the retries."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DeterministicError as error:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(error).__name__}: {error}") from error

    return wrapper  # type: ignore[return-value]


def log_failure(context: dict[str, Any]) -> None:
    """Log an actionable line when a task fails for good (PII-scrubbed error summary)."""
    from cx.alerts import failure_payload

    p = failure_payload(context)
    log.error("cx task failed: dag=%s task=%s run=%s try=%s: %s: %s",
              p["dag_id"], p["task_id"], p["run_id"], p["try_number"], p["error_type"], p["error"])


def published_assets() -> list:
    """One Airflow Asset per published table, so other DAGs can schedule on them."""
    from airflow.sdk import Asset

    return [Asset(name=f"cx.{table}", uri=f"cx://warehouse/main/{table}") for table in PUBLISHED_TABLES]


def run_window_from_context(context: Any) -> RunWindow:
    params = context.get("params") or {}
    return RunWindow.resolve(date.fromisoformat(context["ds"]), params.get("range_start"))


def run_type_of(context: Any) -> str:
    """"backfill", "scheduled", "manual" or "asset_triggered" (Airflow's DagRunType)."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type) or "manual")


def orders_runs(run_type: str) -> bool:
    """Whether a run coordinates with the runs of other days.

    Backfills and the scheduler's catch-up keep runs of other days in flight. A
    manual run (`airflow dags test`, `make run`, a trigger from the UI) stands
    alone, and must not wait on a run an interrupted `dags test` left "running".
    """
    return run_type in ("backfill", "scheduled")


def count_other_runs(context: Any, later: bool, running: bool, days: int = NEIGHBOUR_DAYS) -> int:
    """Runs of this DAG for the ``days`` days after (or before) this run's day, all
    of them or only the running ones, counted by Airflow's execution API (tasks have
    no database access in Airflow 3)."""
    logical = context["logical_date"]
    step = RUN_DAY if later else -RUN_DAY
    dates = [logical + step * i for i in range(1, days + 1)]
    ti = context["ti"]
    states = ["running"] if running else None
    return int(ti.get_dr_count(dag_id=ti.dag_id, logical_dates=dates, states=states))


def earlier_days_done(context: Any) -> bool:
    """Poke of `wait_for_earlier_days`: no run of an earlier day is still running.

    Day D's warehouse steps must see the warehouse as of D: the marts describe the
    newest day ingested, and validation checks D's data against them (no order
    "in the future" of D), so a later day loaded first would fail or skew day D.

    Queued runs are not waited for: Airflow starts a backfill's runs in date order,
    so an earlier run that is still queued means the backfill runs backwards
    (``--run-backwards``), where waiting on it could take every run slot forever.
    """
    run_type = run_type_of(context)
    if not orders_runs(run_type):
        return True
    pending = count_other_runs(context, later=False, running=True)
    if pending:
        log.info("%d run(s) of earlier days still running; %s waits its turn in the warehouse",
                 pending, context["ds"])
    return pending == 0


def training_decision(context: Any, settings: Settings | None = None) -> bool:
    """The `should_train_models` gate: the ML cadence applied to this run."""
    from cx.pipeline import should_train_models

    run_type = run_type_of(context)
    params = context.get("params") or {}
    cadence = params.get("ml_cadence") or None
    later = 0
    if (cadence or _settings(settings).ml_cadence) == "latest" and context.get("logical_date") is not None:
        later = count_other_runs(context, later=True, running=False)
    window = run_window_from_context(context)
    return should_train_models(window.run_to, settings, cadence=cadence, run_type=run_type,
                               later_runs=later).train


def _settings(settings: Settings | None) -> Settings:
    from cx.config import load_settings

    return settings or load_settings()


def freshness_run(context: Any) -> dict:
    """The `check_freshness` task. Backfills record and log stale sources but do not
    alert: a silence years ago is history, not an incident."""
    from cx.pipeline import check_freshness

    ti = context["ti"]
    return check_freshness(run_window_from_context(context), notify=run_type_of(context) != "backfill",
                           dag_id=ti.dag_id, run_id=context["run_id"])


def dbt_docs_run(context: Any) -> dict:
    """The `dbt_docs` task: the dbt documentation site (models, tests, lineage and the
    warehouse catalog) for the CX page. Skipped while later days exist (the middle of
    a backfill), where the site would be rewritten at once."""
    if context.get("logical_date") is not None and count_other_runs(context, later=True, running=False):
        log.info("dbt docs left to the newest run")
        return {"skipped": "a later run rebuilds the docs"}
    from cx.transform import docs_generate

    return {"dbt_docs": str(docs_generate())}


def publish_run(as_of: date) -> dict:
    """Publish the run of ``as_of`` (one transaction; see :func:`cx.publish.publish`).

    The current-state tables are built for the warehouse's state, not the run's day:
    re-running or clearing an older day publishes that day's model partitions and
    rebuilds dim_customers and dim_products exactly as the newest run did.
    """
    from cx.publish import publish
    from cx.warehouse import connect

    with connect() as con:
        counts = publish(con, as_of)
    log.info("published rows for %s: %s", as_of, counts)
    return counts


def locked_dbt_executable() -> str:
    """The dbt executable Cosmos runs: dbt behind the warehouse writer lock (bin/dbt-locked)."""
    return str(Path(__file__).resolve().parent / "bin" / "dbt-locked")


def dbt_task_env(settings: Settings) -> dict[str, str]:
    """Environment of Cosmos' dbt processes, on top of the worker's own environment.

    Rendered into each dbt task's fields (visible in the UI), so no secret goes here:
    dbt reads CX_PII_SALT from the worker's environment.
    """
    beside = Path(sys.executable).with_name("dbt")
    return {
        **dbt_process_env(settings),
        "CX_LOCK_TIMEOUT_S": str(settings.lock_timeout_s),
        "CX_DBT_EXECUTABLE": str(beside) if beside.exists() else "dbt",
    }


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
    producer.doc_md = ("Runs the one `dbt build` of this run (staging → intermediate → marts, with tests) "
                       "under the warehouse writer lock; the other tasks of this group report each model.")
    producer.handle_exception_subprocess = _dbt_exit_handler(producer)
    for sensor in tasks:
        if sensor is producer or sensor.task_id.endswith("dbt_producer_watcher_done"):
            continue
        producer >> sensor
        sensor.trigger_rule = "all_done"
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
            raise AirflowFailException("dbt build failed (not retried: the same build fails the same way): "
                                       + (" | ".join(errors) or "see the dbt output above"))
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
            raise AirflowFailException(f"not built: the dbt build failed before {sensor.model_unique_id} ran "
                                       f"(see {sensor.producer_task_id})")
        try:
            return execute(context, **kwargs)
        except (AirflowFailException, AirflowSkipException):
            raise
        except Exception as error:
            if failed_build:
                raise AirflowFailException(str(error)) from error
            raise

    return run

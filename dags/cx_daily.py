"""cx_daily: the customer-personalization pipeline, one run per extraction day.

Thin wiring only: every step is a function of the `cx` package (include/cx).
Nothing heavy is imported and no database is touched at parse time.
"""

from __future__ import annotations

from datetime import datetime, time
from importlib import import_module

from cx.orchestration import disable_telemetry

disable_telemetry()  # before Cosmos reads its settings at import

from airflow.sdk import DAG, Param, PokeReturnValue, TaskGroup, TriggerRule, XComArg, chain, task  # noqa: E402
from cosmos import (  # noqa: E402
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior  # noqa: E402

from cx.config import load_settings  # noqa: E402
from cx.orchestration import (  # noqa: E402
    DAG_DOC,
    DUCKDB_POOL,
    QUICK_TIMEOUT,
    WAIT_TIMEOUT,
    dbt_task_env,
    default_args,
    locked_dbt_executable,
    map_errors,
    published_assets,
    report_models_after_build,
    run_window,
)

settings = load_settings()
manifest = settings.dbt_project_dir / "target" / "manifest.json"

# The run's window reaches dbt as vars; a bulk load passes range_start.
DBT_VARS = {
    "run_from": "{{ params.range_start or ds }}",
    "run_to": "{{ ds }}",
}

# The model stages: task id, the module whose run(as_of) the task calls, what it writes.
# (task, module, doc, the stage it runs after)
MODEL_STAGES = (
    ("sentiment", "cx.models.sentiment", "Review and ticket sentiment → `main.review_sentiment`.", None),
    (
        "segmentation",
        "cx.models.segmentation",
        "Customer segments (RFM + behaviour) → `main.customer_segments`.",
        "sentiment",
    ),
    (
        "recommendations",
        "cx.models.recommend",
        "LightFM top-N per customer → `main.customer_recommendations`.",
        "segmentation",
    ),
    (
        "retention",
        "cx.models.retention",
        "Churn risk and customer value over `CX_RETENTION_HORIZON_DAYS` → `main.customer_value`; "
        "the day's target list → `main.retention_targets`.",
        "segmentation",
    ),
    (
        "forecasting",
        "cx.models.forecast",
        "Forecasts with calibrated 80%/95% intervals → `main.sales_forecast`, "
        "product demand → `main.product_demand_forecast`.",
        None,
    ),
)


def model_stage(task_id: str, module: str, doc: str, upstream_stage: bool) -> XComArg:
    """A model stage's task: ``module``'s ``run(as_of)``, imported when the task runs."""

    @task(
        task_id=task_id,
        # Behind another stage: runs when that one was skipped (nothing to do).
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS if upstream_stage else TriggerRule.ALL_SUCCESS,
        doc_md=doc,
    )
    @map_errors
    def stage(ds: str | None = None, params: dict | None = None) -> dict:
        return import_module(module).run(run_window(ds, params).run_to)

    return stage()


def quality_check(task_id: str, stage: str, doc: str) -> XComArg:
    """A Great Expectations task: the checks of ``stage`` for the run's window."""

    @task(task_id=task_id, pool=DUCKDB_POOL, doc_md=doc)
    @map_errors
    def check(ds: str | None = None, params: dict | None = None) -> dict:
        from cx.quality.checkpoint import run

        window = run_window(ds, params)
        return run(window.run_from, window.run_to, stage=stage)

    return check()


with DAG(
    dag_id="cx_daily",
    description="Landing zone -> dbt -> Great Expectations -> segments, sentiment, recommendations, retention, forecasts",
    doc_md=DAG_DOC,
    schedule="@daily",
    start_date=datetime.combine(settings.start_date, time.min),
    catchup=settings.catchup,
    max_active_runs=settings.max_active_runs,
    default_args=default_args(),
    params={
        "range_start": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Bulk load: first extraction day to (re)build; the run's date is the last.",
        ),
        "ml_cadence": Param(
            None,
            type=["null", "string"],
            enum=[None, "daily", "weekly", "latest"],
            description="Model training cadence for this run (default: CX_ML_CADENCE). "
            "'latest' trains only on the newest run, e.g. the last day of a backfill.",
        ),
    },
    tags=["cx", "personalization", "dbt", "ml"],
) as dag:

    @task(
        task_id="check_landing_files",
        execution_timeout=QUICK_TIMEOUT,
        doc_md="Lists what arrived in the landing zone for the run's days.",
    )
    @map_errors
    def check_landing_files(ds: str | None = None, params: dict | None = None) -> dict:
        from cx.pipeline import check_landing

        return check_landing(run_window(ds, params))

    @task(
        task_id="check_freshness",
        execution_timeout=QUICK_TIMEOUT,
        doc_md="Each source's latest delivery against its SLA (`CX_FRESHNESS_SLA_DAYS`, "
        "`CX_FRESHNESS_SLA_OVERRIDES`). Stale sources: warning, alert, row in `main.source_freshness`; "
        "the run fails only with `CX_FRESHNESS_FAIL=true`.",
    )
    @map_errors
    def check_freshness(**context) -> dict:
        from cx.orchestration import freshness_run

        return freshness_run(context)

    @task(task_id="load_landing", pool=DUCKDB_POOL, doc_md="Ingests the run's landing files into the `landing` schema.")
    @map_errors
    def load_landing(ds: str | None = None, params: dict | None = None) -> dict:
        from cx.pipeline import load_landing as load

        return load(run_window(ds, params))

    project_config = ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=manifest,
        project_name="cx",
        env_vars=dbt_task_env(settings),
    )
    # Cosmos wraps the manifest path in an ObjectStoragePath, whose first read loads
    # every Airflow plugin (seconds, at each parse); the manifest is a local file.
    project_config.manifest_path = manifest

    transform = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name="cx",
            target_name="duckdb",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        # dbt in a child process that holds the warehouse writer lock while it runs.
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=locked_dbt_executable(),
        ),
        # dbt's tests run inside the one `dbt build` (a failing test fails the producer
        # task); a task per test would add ~30 task starts to every day of a backfill.
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.NONE),
        operator_args={"vars": DBT_VARS, "install_deps": False},
        tooltip="One dbt build with its tests (the producer task); each model's task reports its result",
    )
    report_models_after_build(transform)

    @task.sensor(
        task_id="wait_for_earlier_days",
        # Poke mode: a cheap API call every few seconds in one worker slot, where
        # reschedule mode would start (and parse the DAG in) a new process at each poke.
        mode="poke",
        poke_interval=5,
        timeout=WAIT_TIMEOUT,
        execution_timeout=WAIT_TIMEOUT,
        doc_md="Backfills and catch-up only: waits until the runs of earlier days have finished. The "
        "marts describe the newest day ingested, so each day is loaded, built, validated, modelled and "
        "published in date order, while the runs' other tasks overlap.",
    )
    @map_errors
    def wait_for_earlier_days(**context) -> PokeReturnValue:
        from cx.orchestration import earlier_days_done

        return PokeReturnValue(is_done=earlier_days_done(context))

    @task.short_circuit(
        task_id="should_train_models",
        execution_timeout=QUICK_TIMEOUT,
        ignore_downstream_trigger_rules=False,
        doc_md="ML cadence (`CX_ML_CADENCE` or the run's `ml_cadence`): daily, weekly, or latest. "
        "False skips the model stages; publish then keeps the latest models' outputs.",
    )
    @map_errors
    def should_train(**context) -> bool:
        from cx.orchestration import training_decision

        return training_decision(context)

    with TaskGroup("models", tooltip="Model stages: each reads the marts, writes its table and model_runs") as models:
        # A stage with nothing to do is skipped (cx.errors.NothingToDo); the stages after it
        # still run (none failed, and the gate upstream of each said yes).
        stages: dict[str, XComArg] = {}
        for task_id, module, doc, after in MODEL_STAGES:
            stages[task_id] = model_stage(task_id, module, doc, upstream_stage=after is not None)
            if after is not None:
                stages[after] >> stages[task_id]
        model_stages = list(stages.values())

    @task(
        task_id="publish",
        pool=DUCKDB_POOL,
        trigger_rule=TriggerRule.NONE_FAILED,
        outlets=published_assets(),
        doc_md="Assembles the published tables in `main` and reports row counts.",
    )
    @map_errors
    def publish(ds: str | None = None, params: dict | None = None) -> dict:
        from cx.orchestration import publish_run

        return publish_run(run_window(ds, params).run_to)

    @task(
        task_id="dbt_docs",
        pool=DUCKDB_POOL,
        trigger_rule=TriggerRule.NONE_FAILED,
        doc_md="The dbt documentation site (`$CX_ARTIFACTS_DIR/dbt_docs`, linked from the CX page); "
        "only on the newest run, not on each day of a backfill.",
    )
    @map_errors
    def dbt_docs(**context) -> dict:
        from cx.orchestration import dbt_docs_run

        return dbt_docs_run(context)

    landing = check_landing_files()
    landing >> check_freshness()
    gate = should_train()
    validate = quality_check(
        "validate",
        "inputs",
        "Great Expectations, stage `inputs`: the run's staged rows and the marts the models read. "
        "Critical failures stop the model stages.",
    )
    validate_published = quality_check(
        "validate_published",
        "published",
        "Great Expectations, stage `published`: the contract's tables as users read them, "
        "for the run's as-of day. Results in `main.dq_results`.",
    )
    chain(landing, wait_for_earlier_days(), load_landing(), transform, validate, gate)
    gate >> model_stages  # the gate's "no" skips every model stage, whatever its trigger rule
    chain(models, publish(), [validate_published, dbt_docs()])

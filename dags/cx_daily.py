"""cx_daily: the customer-personalization pipeline, one run per extraction day.

Thin wiring only: every step is a function of the `cx` package (include/cx).
Nothing heavy is imported and no database is touched at parse time.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

# Telemetry off before Cosmos reads its settings at import (there is no internet,
# and users do not want it).
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")

from airflow.sdk import DAG, Param, get_current_context, task  # noqa: E402
from airflow.sdk import TaskGroup  # noqa: E402
from cosmos import (  # noqa: E402
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior  # noqa: E402

from cx.airflow_support import (  # noqa: E402
    DUCKDB_POOL,
    DAG_DOC,
    default_args,
    published_assets,
    report_models_after_build,
    run_window_from_context,
)
from cx.config import load_settings  # noqa: E402
from cx.transform import dbt_executable  # noqa: E402

settings = load_settings()
manifest = settings.dbt_project_dir / "target" / "manifest.json"

# The run's window reaches dbt as vars; a bulk load passes range_start.
DBT_VARS = {
    "run_from": "{{ params.range_start or ds }}",
    "run_to": "{{ ds }}",
}

with DAG(
    dag_id="cx_daily",
    description="Landing zone -> dbt -> Great Expectations -> segments, sentiment, recommendations, forecasts",
    doc_md=DAG_DOC,
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=True,
    max_active_runs=int(os.environ.get("CX_MAX_ACTIVE_RUNS", "4")),
    default_args=default_args(),
    params={
        "range_start": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Bulk load: first extraction day to (re)build; the run's date is the last.",
        ),
    },
    tags=["cx", "personalization", "dbt", "ml"],
) as dag:

    @task(task_id="check_landing_files", doc_md="Lists what arrived in the landing zone for the run's days.")
    def check_landing_files() -> dict:
        from cx.pipeline import check_landing

        return check_landing(run_window_from_context(get_current_context()))

    @task(task_id="load_landing", pool=DUCKDB_POOL, doc_md="Ingests the run's landing files into the `landing` schema.")
    def load_landing() -> dict:
        from cx.pipeline import load_landing as load

        return load(run_window_from_context(get_current_context()))

    transform = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=manifest,
            project_name="cx",
            env_vars={"CX_WAREHOUSE": str(settings.warehouse), "CX_PII_SALT": settings.pii_salt},
        ),
        profile_config=ProfileConfig(
            profile_name="cx",
            target_name="duckdb",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        # dbt in a child process: its DuckDB handle closes when the build ends.
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(),
        ),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH),
        operator_args={"vars": DBT_VARS, "pool": DUCKDB_POOL, "install_deps": False},
    )
    report_models_after_build(transform)

    @task(task_id="validate", pool=DUCKDB_POOL, doc_md="Great Expectations checkpoint on the run's partition.")
    def validate() -> dict:
        from cx.quality.checkpoint import run

        window = run_window_from_context(get_current_context())
        return run(window.run_from, window.run_to)

    @task.short_circuit(task_id="should_train_models", ignore_downstream_trigger_rules=False)
    def should_train() -> bool:
        from cx.pipeline import should_train_models

        return should_train_models(run_window_from_context(get_current_context()).run_to)

    with TaskGroup("models", tooltip="Model stages: each reads the marts, writes its table and model_runs") as models:

        @task(task_id="sentiment")
        def sentiment() -> dict:
            from cx.models.sentiment import run

            return run(run_window_from_context(get_current_context()).run_to)

        @task(task_id="segmentation")
        def segmentation() -> dict:
            from cx.models.segmentation import run

            return run(run_window_from_context(get_current_context()).run_to)

        @task(task_id="recommendations")
        def recommendations() -> dict:
            from cx.models.recommend import run

            return run(run_window_from_context(get_current_context()).run_to)

        @task(task_id="forecasting")
        def forecasting() -> dict:
            from cx.models.forecast import run

            return run(run_window_from_context(get_current_context()).run_to)

        sentiment_task = sentiment()
        segmentation_task = segmentation()
        sentiment_task >> segmentation_task >> recommendations()
        forecasting()

    @task(
        task_id="publish",
        pool=DUCKDB_POOL,
        trigger_rule="none_failed",
        outlets=published_assets(),
        doc_md="Assembles the published tables in `main` and reports row counts.",
    )
    def publish() -> dict:
        from cx.airflow_support import publish_run

        return publish_run(run_window_from_context(get_current_context()).run_to)

    gate = should_train()
    check_landing_files() >> load_landing() >> transform >> validate() >> gate >> models >> publish()

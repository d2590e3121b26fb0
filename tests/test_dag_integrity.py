"""The DAG folder imports cleanly and cx_daily is wired as users expect."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_cx_daily_schedule_and_tags(dagbag):
    dag = dagbag.dags["cx_daily"]
    assert dag is not None
    assert dag.catchup is True
    assert "cx" in dag.tags
    assert dag.max_active_runs > 1
    assert "range_start" in dag.params


def test_every_task_retries(dagbag):
    dag = dagbag.dags["cx_daily"]
    no_retries = [t.task_id for t in dag.tasks if (t.retries or 0) < 1]
    assert no_retries == []


def test_stage_order(dagbag):
    dag = dagbag.dags["cx_daily"]
    ids = set(dag.task_ids)
    for expected in ("check_landing_files", "load_landing", "dbt.dbt_producer_watcher", "validate",
                     "models.sentiment", "models.segmentation", "models.recommendations",
                     "models.forecasting", "publish"):
        assert expected in ids
    # Each dbt model is visible as its own task, while dbt runs once (the producer).
    assert "dbt.fct_orders_run" in ids
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert "dbt.fct_orders_run" in producer.downstream_task_ids
    assert dag.get_task("models.segmentation").upstream_task_ids == {"models.sentiment"}


def test_duckdb_writers_share_one_pool(dagbag):
    dag = dagbag.dags["cx_daily"]
    for task_id in ("load_landing", "dbt.dbt_producer_watcher", "validate", "publish"):
        assert dag.get_task(task_id).pool == "cx_duckdb"

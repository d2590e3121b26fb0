"""`cx run` judges each run from Airflow's record of it: task-instance states, the tasks'
returned summaries and their error lines (pure pieces, no Airflow)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from cx.runner.summary import dbt_totals, describe, format_stages
from cx.runner.verdict import TaskRecord, dbt_error_lines, judge, silent_model_stage, task_errors

pytestmark = [pytest.mark.airflow, pytest.mark.dbt]

OK_MODELS = [
    TaskRecord("models.sentiment", "success", 1, {"reviews": 2894, "tickets": 962, "macro_f1": 0.99}),
    TaskRecord("models.forecasting", "success", 1, {"rows": 140}),
]


def test_a_run_without_task_instances_is_a_failure():
    verdict = judge([], run_state="success", start_date_hint="run day 2010-12-01, DAG start date 2024-01-01")
    assert not verdict.ok
    assert "no task ran" in verdict.problems[0] and "2024-01-01" in verdict.problems[0]


def test_all_finished_is_ok_and_skips_carry_their_reason():
    tasks = [TaskRecord("load_landing", "success", 1, {"rows": 10}), *OK_MODELS, TaskRecord("publish", "skipped", 1)]
    verdict = judge(tasks, {"publish": ["AirflowSkipException: nothing to publish"]}, run_state="success")
    assert verdict.ok and verdict.problems == []
    assert verdict.skipped == ["publish: AirflowSkipException: nothing to publish"]
    gated = judge(
        [TaskRecord("should_train_models", "success", 1, False), TaskRecord("models.sentiment", "skipped", 0)],
        run_state="success",
    )
    assert gated.ok and gated.skipped == ["models.sentiment: should_train_models returned False"]


def test_failed_upstream_failed_and_unfinished_tasks_are_named_with_their_error():
    tasks = [
        TaskRecord("validate", "failed", 1),
        TaskRecord("publish", "upstream_failed", 0),
        TaskRecord("models.sentiment", "up_for_retry", 1),
        TaskRecord("dbt_docs", None, 0),
    ]
    errors = {"validate": ["DataQualityError: 35 rows of fct_daily_sales.units_non_negative"]}
    verdict = judge(tasks, errors, run_state="failed")
    assert not verdict.ok
    text = "\n".join(verdict.problems)
    assert "validate failed (try 1): DataQualityError: 35 rows" in text
    assert "not run, an upstream task failed: publish" in text
    assert "models.sentiment did not finish (state up_for_retry)" in text
    assert "dbt_docs did not finish (state none)" in text


def test_a_failed_dbt_build_is_one_line_for_the_build_and_one_for_its_models():
    tasks = [
        TaskRecord("dbt.dbt_producer_watcher", "failed", 1),
        *[TaskRecord(f"dbt.model_{i}_run", "failed", 1) for i in range(30)],
        TaskRecord("validate", "upstream_failed", 0),
    ]
    errors = {
        "dbt.dbt_producer_watcher": ["AirflowFailException: dbt build failed: Database Error in model stg_x"],
        "dbt.model_3_run": ["AirflowFailException: not built: the dbt build failed before model_3 ran"],
    }
    problems = judge(tasks, errors, run_state="failed").problems
    assert problems[0] == (
        "dbt.dbt_producer_watcher failed (try 1): AirflowFailException: dbt build failed: Database Error in model stg_x"
    )
    assert problems[1].startswith("30 dbt model task(s) failed or not built: model_0_run, model_10_run")
    assert "and 24 more: AirflowFailException: not built" in problems[1]
    assert problems[2] == "not run, an upstream task failed: validate" and len(problems) == 3


def test_a_run_airflow_marked_failed_is_not_ok_even_when_the_tasks_look_fine():
    assert not judge(OK_MODELS, run_state="failed").ok


def test_model_stage_that_did_nothing_without_saying_why_fails():
    assert silent_model_stage({"skipped": "marts.fct_texts is empty"}) is None
    assert silent_model_stage({"rows": 12}) is None
    assert "no summary" in silent_model_stage(None)
    assert "no summary" in silent_model_stage({})
    assert "0 rows" in silent_model_stage({"rows": 0, "model_version": "v1"})
    assert "reports no rows" in silent_model_stage({"model_version": "v1"})
    assert "reports no rows" in silent_model_stage({"skipped": 3})  # a count, not a reason
    assert silent_model_stage({"reviews": 5, "tickets": 0}, "models.sentiment") is None
    assert "0 rows" in silent_model_stage({"reviews": 0, "tickets": 0}, "models.sentiment")
    verdict = judge([TaskRecord("models.segmentation", "success", 1, {"rows": 0})], run_state="success")
    assert not verdict.ok and "models.segmentation succeeded but wrote 0 rows" in verdict.problems[0]


DAGS_TEST_LOG = """\
2026-12-03T10:09:31Z [info     ] [DAG TEST] starting task_id=check_landing_files map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-03T10:09:58Z [info     ] Pushing xcom                   [task] loc=task_runner.py:2280
2026-12-03T10:09:59Z [info     ] [DAG TEST] end task task_id=check_landing_files map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-12-03T10:10:02Z [info     ] [DAG TEST] starting task_id=validate map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-03T10:10:05Z [error    ] Task failed with exception     [task] loc=task_runner.py:1000
Traceback (most recent call last):
  File "x.py", line 1, in <module>
cx.errors.DataQualityError: data quality (inputs) failed for 2024-11-26: the model stages will not run:
- marts.fct_daily_sales: fct_daily_sales.units_non_negative (35 rows)

The above exception was the direct cause of the following exception:
airflow.sdk.exceptions.AirflowFailException: DataQualityError: data quality (inputs) failed for 2024-11-26
2026-12-03T10:10:05Z [error    ] cx task failed: dag=cx_daily task=validate run=r try=1 [cx.airflow_support] loc=a.py:1
2026-12-03T10:10:06Z [info     ] [DAG TEST] end task task_id=validate map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-12-03T10:10:07Z [error    ] something after all tasks [x]
"""


def test_error_lines_are_found_per_task_not_log_timestamps():
    errors = task_errors(DAGS_TEST_LOG)
    assert set(errors) == {"validate"}
    first = errors["validate"][0]
    assert first == (
        "DataQualityError: data quality (inputs) failed for 2024-11-26: the model stages will not run: "
        "- marts.fct_daily_sales: fct_daily_sales.units_non_negative (35 rows)"
    )
    assert any(line.startswith("cx task failed: dag=cx_daily task=validate") for line in errors["validate"])
    assert not any(line.startswith("2026-") for line in errors["validate"])


def test_dbt_error_lines_from_json_and_text_output():
    event = {
        "info": {
            "level": "error",
            "msg": "\x1b[31mFailure in model fct_orders\x1b[0m\n  Conversion Error: "
            "Could not convert string '99999999999999999999' to DECIMAL(18,4)",
        }
    }
    progress = {
        "info": {"level": "error", "msg": "142 of 223 ERROR creating sql incremental model int_orders .. [ERROR]"}
    }
    lines = [
        '{"info": {"level": "info", "msg": "1 of 2 OK"}}',
        json.dumps(progress),
        json.dumps(event),
        "Runtime Error in model x (models/x.sql)",
    ]
    found = dbt_error_lines(lines)
    assert found[0] == "Runtime Error in model x (models/x.sql)"  # what went wrong first
    assert found[1].startswith("Failure in model fct_orders") and "DECIMAL(18,4)" in found[1]
    assert len(found) == 2  # not dbt's progress line


def test_stage_summary_shows_rows_per_stage():
    tasks = [
        TaskRecord(
            "check_landing_files",
            "success",
            1,
            {"files": {"orders": ["a.csv", "b.csv"], "customers": ["c"]}, "absent_sources": ["reviews"]},
        ),
        TaskRecord(
            "load_landing",
            "success",
            1,
            {"orders": {"files": 2, "rows": 1200, "rejected": 3}, "reviews": {"files": 1, "rows": 10, "rejected": 0}},
        ),
        TaskRecord("dbt.dbt_producer_watcher", "success", 1, None),
        TaskRecord("dbt.fct_orders_run", "success", 1, None),
        TaskRecord("dbt.dim_x_run", "skipped", 1, None),
        TaskRecord(
            "validate",
            "success",
            1,
            {"evaluated": 40, "failed": 0, "skipped": 2, "critical_failures": [], "warnings": ["w"]},
        ),
        TaskRecord("models.sentiment", "success", 1, {"reviews": 3067, "macro_f1": 0.998765, "seconds": 2.5}),
        TaskRecord("publish", "success", 1, {"dim_customers": 3000, "fct_orders": 12000}),
        TaskRecord("dbt_docs", "success", 1, {"skipped": "a later run rebuilds the docs"}),
    ]
    text = format_stages(tasks, dbt_totals("... Done. PASS=220 WARN=1 ERROR=0 SKIP=2 TOTAL=223\n"))
    lines = text.splitlines()
    assert [line.split()[0] for line in lines] == [
        "check_landing_files",
        "load_landing",
        "dbt",
        "validate",
        "models.sentiment",
        "publish",
        "dbt_docs",
    ]
    assert "files landed: orders 2, customers 1; absent: reviews" in text
    assert "rows in 1,210 from 3 files (3 rejected): orders 1,200, reviews 10" in text
    assert "models: 1 skipped, 1 success; dbt build 223 nodes: 220 passed, 1 warned, 0 errors, 2 skipped" in text
    assert "40 checks, 40 passed; 0 critical failed, 1 warnings; 2 not evaluated" in text
    assert "reviews 3,067, macro_f1 0.9988" in text
    assert "rows published: dim_customers 3,000, fct_orders 12,000" in text
    assert "skipped: a later run rebuilds the docs" in text
    assert describe("x", None) == ""


def test_effective_start_date_only_moves_earlier():
    from cx.cli import effective_start_date

    assert effective_start_date(date(2010, 12, 1), date(2024, 1, 1)) == date(2010, 12, 1)
    assert effective_start_date(date(2031, 5, 1), date(2024, 1, 1)) == date(2024, 1, 1)


def test_a_range_before_the_start_date_is_refused_while_a_scheduler_could_catch_up(monkeypatch, tmp_path):
    import pytest

    import cx.runner.record
    from cx.cli import run_range

    monkeypatch.setenv("CX_START_DATE", "2024-01-01")
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "cx.duckdb"))
    monkeypatch.setattr(cx.runner.record, "dag_unpaused", lambda dag_id="cx_daily": True)
    with pytest.raises(SystemExit, match="cx_daily is unpaused"):
        run_range(date(2010, 12, 1), date(2011, 12, 9), bulk_min_days=3)
    with pytest.raises(SystemExit, match="is after --to"):
        run_range(date(2011, 12, 9), date(2010, 12, 1), bulk_min_days=3)


def test_a_dag_that_did_not_import_is_reported_with_its_exception():
    from cx.runner.verdict import log_errors

    log = (
        "2026-12-03T10:29:46Z [error    ] Failed to import: dags/cx_daily.py [x]\nTraceback (most recent call last):\n"
        "cosmos.dbt.graph.CosmosLoadDbtException: Failed to load dbt manifest: file is not valid JSON\n"
        "airflow.sdk.exceptions.AirflowException: Dag 'cx_daily' could not be found\n"
    )
    assert log_errors(log) == [
        "AirflowException: Dag 'cx_daily' could not be found",
        "CosmosLoadDbtException: Failed to load dbt manifest: file is not valid JSON",
    ]


def test_a_stage_skipped_for_having_nothing_to_do_is_named_with_its_reason_and_is_not_a_failure():
    tasks = [
        TaskRecord("check_landing_files", "success", returned={"files": {}}),
        TaskRecord("models.sentiment", "skipped", returned={"skipped": "no review or ticket texts"}),
        TaskRecord("publish", "success", returned={"fct_orders": 3}),
    ]
    verdict = judge(tasks)
    assert verdict.ok and verdict.skipped == ["models.sentiment: no review or ticket texts"]
    assert "skipped: no review or ticket texts" in format_stages(tasks)


def test_a_run_where_every_task_was_skipped_is_a_failure():
    verdict = judge([TaskRecord("check_landing_files", "skipped"), TaskRecord("publish", "skipped")])
    assert not verdict.ok and verdict.problems == ["no task ran: every task was skipped"]

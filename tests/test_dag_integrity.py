"""The DAG folder imports cleanly and cx_daily is wired as users expect."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.dbt]

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
    for expected in (
        "check_landing_files",
        "load_landing",
        "dbt.dbt_producer_watcher",
        "validate",
        "models.sentiment",
        "models.segmentation",
        "models.recommendations",
        "models.forecasting",
        "models.retention",
        "publish",
    ):
        assert expected in ids
    # Each dbt model is visible as its own task, while dbt runs once (the producer, which
    # runs the tests too: no task per test).
    (fct_orders,) = ids & {"dbt.fct_orders_run", "dbt.fct_orders.run"}
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert fct_orders in producer.downstream_task_ids
    assert "--resource-type" not in producer.dbt_cmd_flags  # its `dbt build` runs the data tests too
    assert producer.dbt_cmd_flags[-2:] == ["--exclude-resource-type", "unit_test"]  # unit tests: in CI
    assert not [t for t in ids if t.endswith(".test")]
    assert dag.get_task("models.segmentation").upstream_task_ids == {"models.sentiment", "should_train_models"}
    assert dag.get_task("models.retention").upstream_task_ids == {"models.segmentation", "should_train_models"}
    assert "publish" in dag.get_task("models.retention").downstream_task_ids


def test_duckdb_writers_share_one_pool(dagbag):
    dag = dagbag.dags["cx_daily"]
    for task_id in ("load_landing", "dbt.dbt_producer_watcher", "validate", "publish"):
        assert dag.get_task(task_id).pool == "cx_duckdb"


def test_only_warehouse_writers_take_the_pool(dagbag):
    dag = dagbag.dags["cx_daily"]
    sensors = [t for t in dag.tasks if t.task_id.startswith("dbt.") and "producer" not in t.task_id]
    assert len(sensors) > 20
    # The per-model tasks only read the producer's results: in the one-slot pool they
    # would queue ~30 tasks per run behind the writers.
    assert {t.pool for t in sensors} == {"default_pool"}


def test_dbt_runs_behind_the_writer_lock_and_no_secret_is_rendered(dagbag):
    producer = dagbag.dags["cx_daily"].get_task("dbt.dbt_producer_watcher")
    assert producer.dbt_executable_path.endswith("bin/dbt-locked")
    wrapper = Path(producer.dbt_executable_path)
    assert wrapper.is_file() and wrapper.stat().st_mode & 0o111
    assert "CX_WAREHOUSE" in producer.env and "CX_DBT_EXECUTABLE" in producer.env
    # env is a template field, shown in the UI: the PII salt comes from the worker's environment.
    assert "CX_PII_SALT" not in producer.env


def test_failures_notify_and_tasks_are_documented(dagbag):
    from cx.alerts import CxFailureNotifier

    dag = dagbag.dags["cx_daily"]
    for task in dag.tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, CxFailureNotifier) for c in callbacks), task.task_id
        if not task.task_id.startswith("dbt.") or task.task_id.split(".")[-1] == "producer_watcher":
            assert task.doc_md, f"{task.task_id} has no doc_md"
    assert "Backfills" in dag.doc_md and "CX_ALERT_CONN_ID" in dag.doc_md


def test_operations_wiring(dagbag):
    dag = dagbag.dags["cx_daily"]
    assert dag.get_task("check_freshness").upstream_task_ids == {"check_landing_files"}
    assert dag.get_task("check_freshness").downstream_task_ids == set()  # it never blocks the data
    assert dag.get_task("wait_for_earlier_days").upstream_task_ids == {"check_landing_files"}
    assert dag.get_task("load_landing").upstream_task_ids == {"wait_for_earlier_days"}
    assert dag.get_task("wait_for_earlier_days").mode == "poke"
    assert dag.get_task("should_train_models").downstream_task_ids == {
        "models.sentiment",
        "models.segmentation",
        "models.recommendations",
        "models.forecasting",
        "models.retention",
    }
    assert dag.get_task("publish").trigger_rule == "none_failed"  # publishes when the models are skipped
    assert {a.name for a in dag.get_task("publish").outlets} >= {"cx.dim_customers", "cx.customer_segments"}
    assert dag.get_task("publish").downstream_task_ids == {"validate_published", "dbt_docs"}
    assert dag.get_task("dbt_docs").pool == "cx_duckdb"
    assert dag.params.get_param("ml_cadence").schema["enum"] == [None, "daily", "weekly", "latest"]


# --- DAG parse time ---------------------------------------------------------------------------

PARSE_PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag  # Airflow's own import is not the DAG's cost
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "errors": list(bag.import_errors),
                  "dags": sorted(bag.dag_ids)}))
"""


def test_dag_parses_in_under_two_seconds(tmp_path):
    """Each parse in a fresh interpreter, as Airflow's dag-processor and workers do; the best of
    three, so a busy machine measures the DAG rather than its neighbours."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PLUGINS_FOLDER=str(tmp_path / "plugins"),
    )
    timings = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", PARSE_PROBE, str(DAGS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        assert result["errors"] == [] and "cx_daily" in result["dags"]
        timings.append(result["seconds"])
    print(f"\ncx_daily parse times: {', '.join(f'{t:.2f}s' for t in timings)}")
    assert min(timings) < 2.0, timings


# --- ML cadence -------------------------------------------------------------------------------

from datetime import UTC, date, datetime, timedelta  # noqa: E402
from types import SimpleNamespace  # noqa: E402

SUNDAY = date(2024, 3, 10)


def test_cadence_daily_and_weekly():
    from cx.pipeline import decide_training

    assert decide_training("daily", SUNDAY - timedelta(days=3)).train
    assert decide_training("weekly", SUNDAY).train
    assert not decide_training("weekly", SUNDAY - timedelta(days=1)).train
    assert decide_training("weekly", SUNDAY - timedelta(days=1), weekday=5).train
    with pytest.raises(ValueError, match="hourly"):
        decide_training("hourly", SUNDAY)


def test_cadence_latest():
    from cx.pipeline import decide_training

    # A backfill: only its last run (no run of a later day exists) trains.
    assert not decide_training("latest", SUNDAY, run_type="backfill", later_runs=3).train
    assert decide_training(
        "latest", SUNDAY, run_type="backfill", later_runs=0, newest_landed_day=SUNDAY + timedelta(days=30)
    ).train
    # Outside backfills the run must also have reached the landing zone's newest day.
    assert not decide_training(
        "latest", SUNDAY, run_type="scheduled", newest_landed_day=SUNDAY + timedelta(days=1)
    ).train
    assert decide_training("latest", SUNDAY, run_type="scheduled", newest_landed_day=SUNDAY).train
    assert decide_training("latest", SUNDAY, run_type="manual", newest_landed_day=None).train
    # Clearing an older day never retrains: later days exist.
    assert not decide_training("latest", SUNDAY, run_type="manual", later_runs=1).train


class _FakeTI:
    dag_id = "cx_daily"

    def __init__(self, counts):
        self.counts, self.asked = counts, []

    def get_dr_count(self, dag_id, logical_dates=None, run_ids=None, states=None):
        self.asked.append((dag_id, logical_dates, states))
        return self.counts.pop(0)


def _ctx(run_type, counts, cadence=None):
    logical = datetime(2024, 3, 10, tzinfo=UTC)
    return {
        "ti": _FakeTI(counts),
        "logical_date": logical,
        "ds": "2024-03-10",
        "run_id": "r",
        "dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type)),
        "params": {"range_start": None, "ml_cadence": cadence},
    }


def test_wait_for_earlier_days_asks_airflow_for_running_earlier_runs():
    from cx.orchestration import NEIGHBOUR_DAYS, earlier_days_done

    ctx = _ctx("backfill", [2, 0])
    assert earlier_days_done(ctx) is False
    assert earlier_days_done(ctx) is True
    dag_id, dates, states = ctx["ti"].asked[0]
    assert dag_id == "cx_daily" and states == ["running"]
    assert dates[0] == ctx["logical_date"] - timedelta(days=1) and len(dates) == NEIGHBOUR_DAYS
    manual = _ctx("manual", [])
    assert earlier_days_done(manual) is True and manual["ti"].asked == []  # `dags test` never waits


def test_training_gate_uses_the_run_cadence_and_later_runs(monkeypatch, tmp_path):
    from cx.orchestration import training_decision

    monkeypatch.setenv("CX_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("CX_ML_CADENCE", "daily")
    ctx = _ctx("backfill", [4], cadence="latest")
    assert training_decision(ctx) is False
    ((_, dates, states),) = ctx["ti"].asked
    assert states is None and dates[0] == ctx["logical_date"] + timedelta(days=1)
    assert training_decision(_ctx("backfill", [0], cadence="latest")) is True
    daily = _ctx("backfill", [])
    assert training_decision(daily) is True and daily["ti"].asked == []  # daily never asks


def test_dbt_docs_waits_only_for_later_runs_still_to_come(monkeypatch):
    """Finished later runs (e.g. the demo's, in the Airflow database another warehouse
    shares) do not stop the docs; a backfill's queued or running later days do."""
    import cx.transform
    from cx.orchestration import dbt_docs_run

    monkeypatch.setattr(cx.transform, "docs_generate", lambda: "site")
    ctx = _ctx("backfill", [3])
    assert dbt_docs_run(ctx) == {"skipped": "a later run rebuilds the docs"}
    ((_, dates, states),) = ctx["ti"].asked
    assert sorted(states) == ["queued", "running"] and dates[0] == ctx["logical_date"] + timedelta(days=1)
    assert dbt_docs_run(_ctx("manual", [0])) == {"dbt_docs": "site"}


def test_schedule_settings(monkeypatch):
    from cx.config import load_settings

    monkeypatch.setenv("CX_START_DATE", "2025-06-01")
    monkeypatch.setenv("CX_CATCHUP", "false")
    monkeypatch.setenv("CX_MAX_ACTIVE_RUNS", "2")
    settings = load_settings()
    assert (settings.start_date, settings.catchup, settings.max_active_runs) == (date(2025, 6, 1), False, 2)
    monkeypatch.setenv("CX_START_DATE", "June")
    with pytest.raises(ValueError):
        load_settings()


# --- deterministic failures are not retried ---------------------------------------------------


def test_deterministic_errors_fail_without_retry_and_others_keep_retries():
    from airflow.sdk.exceptions import AirflowFailException

    from cx.errors import ConfigurationError, DataQualityError
    from cx.orchestration import map_errors

    def raising(error):
        @map_errors
        def task_callable():
            raise error

        return task_callable

    for error in (DataQualityError("critical checks failed", []), ConfigurationError("CX_SEED='x' is not valid")):
        with pytest.raises(AirflowFailException, match=str(error).split()[0]):
            raising(error)()
    for transient in (TimeoutError("waited 1800s for the DuckDB writer lock"), RuntimeError("worker lost")):
        with pytest.raises(type(transient)):
            raising(transient)()


def test_every_python_task_maps_deterministic_errors(dagbag):
    from cx.orchestration import map_errors

    dag = dagbag.dags["cx_daily"]
    python_tasks = [t for t in dag.tasks if hasattr(t, "python_callable")]
    assert {"validate", "validate_published", "models.forecasting", "load_landing"} <= {t.task_id for t in python_tasks}
    for task in python_tasks:
        callable_ = task.python_callable
        assert getattr(callable_, "__wrapped__", None) is not None, task.task_id
        assert callable_.__code__ is map_errors(lambda: None).__code__, task.task_id


def test_settings_errors_are_configuration_errors(monkeypatch):
    from cx.config import load_settings
    from cx.errors import ConfigurationError

    monkeypatch.setenv("CX_SEED", "forty-two")
    with pytest.raises(ConfigurationError, match="CX_SEED"):
        load_settings()


def test_data_quality_gate_raises_a_deterministic_error():
    from cx.errors import DeterministicError
    from cx.quality.checkpoint import DataQualityError

    assert issubclass(DataQualityError, DeterministicError)


class _Result(SimpleNamespace):
    pass


def test_dbt_producer_fails_without_retry_on_dbt_errors_and_retries_a_lock_timeout(dagbag):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    producer = dagbag.dags["cx_daily"].get_task("dbt.dbt_producer_watcher")
    failing = [
        '{"info": {"level": "error", "msg": "Database Error in model fct_orders\\n  Conversion Error: '
        'Could not convert string to DECIMAL(18,4)"}}'
    ]
    with pytest.raises(AirflowFailException, match="fct_orders: Conversion Error"):
        producer.handle_exception_subprocess(_Result(exit_code=1, full_output=failing))
    with pytest.raises(AirflowException) as lock_timeout:
        producer.handle_exception_subprocess(_Result(exit_code=75, full_output=["waited 1800s"]))
    assert not isinstance(lock_timeout.value, AirflowFailException)
    producer.handle_exception_subprocess(_Result(exit_code=0, full_output=[]))


def test_dbt_model_tasks_do_not_rerun_after_a_failed_build(dagbag, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    sensor = next(
        t for t in dagbag.dags["cx_daily"].tasks if t.task_id.startswith("dbt.") and "producer" not in t.task_id
    )
    ran: list[str] = []
    monkeypatch.setattr(sensor, "_get_producer_task_status", lambda context: "failed")
    monkeypatch.setattr(sensor, "_get_node_status", lambda ti, context: None)
    monkeypatch.setattr(sensor, "_fallback_to_non_watcher_run", lambda *a, **k: ran.append("fallback"))
    ti = SimpleNamespace(try_number=1, xcom_pull=lambda **k: 1)
    with pytest.raises(AirflowFailException, match="not built: the dbt build failed"):
        sensor.execute({"ti": ti})
    assert ran == []  # Cosmos would run the model on its own here


class _TaskInstance(SimpleNamespace):
    def xcom_push(self, key, value):
        self.pushed[key] = value

    def xcom_pull(self, task_ids, key):
        return self.build_try


def test_a_cleared_day_builds_once_and_its_model_tasks_report_that_build(dagbag, monkeypatch):
    """Cosmos skips a producer's second try and has each model task run its model alone
    (`dbt run`, no tests); a cleared day here runs the one build again, and the model
    tasks report it. Airflow executes a rendered copy of each task: that copy runs."""
    import copy

    from cx.orchestration.cosmos import BUILD_TRY_KEY

    dag = dagbag.dags["cx_daily"]
    producer = dag.get_task("dbt.dbt_producer_watcher")
    sensor = next(t for t in dag.tasks if t.task_id.startswith("dbt.") and t.task_id.endswith("_run"))
    ran: list[tuple[str, str, int]] = []
    for task in (producer, sensor):
        monkeypatch.setattr(
            type(task),
            "execute",
            lambda self, context: ran.append((self.task_id, self.vars["run_to"], context["ti"].try_number)),
        )
    monkeypatch.setattr(type(sensor), "_get_producer_task_status", lambda self, context: "success")

    def execute(task, ti):
        rendered = copy.copy(task)
        rendered.vars = {**task.vars, "run_to": "2024-03-07"}
        task.execute({"ti": ti, "task": rendered})

    cleared = _TaskInstance(try_number=2, pushed={}, build_try=None)
    execute(producer, cleared)
    assert cleared.pushed == {BUILD_TRY_KEY: 2} and cleared.try_number == 2
    execute(sensor, _TaskInstance(try_number=2, build_try=2))
    # Only this model task cleared: Cosmos' own retry (its model alone), with the rendered window.
    execute(sensor, _TaskInstance(try_number=2, build_try=1))
    assert ran == [
        (producer.task_id, "2024-03-07", 1),
        (sensor.task_id, "2024-03-07", 1),
        (sensor.task_id, "2024-03-07", 2),
    ]


def test_unknown_holiday_country_is_a_configuration_error():
    from cx.errors import ConfigurationError
    from cx.models.forecast import parse_holiday_country

    with pytest.raises(ConfigurationError, match="CX_HOLIDAY_COUNTRY"):
        parse_holiday_country("XX")


# --- time limits, skips and trigger rules -----------------------------------------------------


def test_every_task_has_a_time_limit(dagbag):
    dag = dagbag.dags["cx_daily"]
    assert [t.task_id for t in dag.tasks if t.execution_timeout is None] == []
    sensor = dag.get_task("wait_for_earlier_days")
    assert sensor.execution_timeout.total_seconds() >= sensor.timeout  # the limit does not cut a backfill's wait short


def test_nothing_to_do_skips_the_task_with_its_reason(monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    from cx.errors import NothingToDo
    from cx.orchestration import defaults, map_errors
    from cx.runner.verdict import SKIP_REASON_KEY

    pushed = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append((key, value)))
    monkeypatch.setattr("airflow.sdk.get_current_context", lambda: {"ti": ti})

    @map_errors
    def stage():
        raise NothingToDo("no review or ticket texts up to 2010-12-02")

    with pytest.raises(AirflowSkipException, match="no review or ticket texts"):
        stage()
    assert pushed == [(SKIP_REASON_KEY, "no review or ticket texts up to 2010-12-02")]
    assert defaults.SKIP_REASON_KEY == SKIP_REASON_KEY


def test_stages_after_a_skipped_stage_still_run_and_publish_follows(dagbag):
    from airflow.sdk import TriggerRule

    dag = dagbag.dags["cx_daily"]
    gate = dag.get_task("should_train_models")
    stages = {t.task_id for t in dag.tasks if t.task_id.startswith("models.")}
    # the gate is upstream of every stage, so its "no" skips them all (short-circuit, direct downstream)
    assert stages <= gate.downstream_task_ids
    for task_id in ("models.segmentation", "models.recommendations", "models.retention"):
        assert dag.get_task(task_id).trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert dag.get_task("publish").trigger_rule == TriggerRule.NONE_FAILED

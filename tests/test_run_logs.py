"""A run made the way `make run` makes it (cx.cli.dag_test: Airflow's `dags test` through
cx.runner.dagtest) is a normal Airflow run afterwards: its start and end are the wall
time it took, each task's log is where Airflow's log reader (the UI's) finds it, with
that task's own lines only, and a stage with nothing to do is skipped with its reason
while the stage after it runs.

A small probe DAG in a temporary AIRFLOW_HOME (migrated SQLite metadata DB) keeps it to
one short run; tests/acceptance/test_run_in_ui.py does the same for `make run` on UCI days
through the UI server and a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

PROBE_DAG = textwrap.dedent("""
    import logging
    import time
    from datetime import datetime

    from airflow.sdk import DAG, TriggerRule, chain, task

    from cx.errors import NothingToDo
    from cx.orchestration import map_errors

    log = logging.getLogger("probe")

    with DAG("cx_probe", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

        @task(task_id="work")
        @map_errors
        def work(ds=None):
            log.info("probe line of work for %s", ds)
            time.sleep(3)
            return {"rows": 3}

        @task(task_id="nothing")
        @map_errors
        def nothing():
            log.info("probe line of nothing")
            raise NothingToDo("no review or ticket texts up to this day")

        @task(task_id="after", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        @map_errors
        def after():
            log.info("probe line of after")
            return {"rows": 1}

        w, a = work(), after()
        chain(w, nothing(), a)
        w >> a  # like the model stages: one upstream skipped, another succeeded
""")

RUN = textwrap.dedent("""
    import json, sys, time
    from datetime import date
    from cx.cli import dag_test
    began = time.monotonic()
    elapsed = dag_test(date(2024, 3, 1), dag_id="cx_probe")
    print("RESULT " + json.dumps({"elapsed": elapsed, "wall": time.monotonic() - began}))
""")

# What the UI's log endpoint returns, read with Airflow's own TaskLogReader, in a process
# configured like the server; and the run's times as the UI shows them.
READ = textwrap.dedent("""
    import json
    from sqlalchemy import select
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    out = {"tasks": {}}
    reader = TaskLogReader()
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == "cx_probe")).one()
        out["run"] = {"start": run.start_date.isoformat(), "end": run.end_date.isoformat(),
                      "state": str(run.state)}
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)):
            lines, _ = reader.read_log_chunks(ti, ti.try_number, {"download_logs": True})
            text = "\\n".join(getattr(l, "event", str(l)) or "" for l in lines)
            out["tasks"][ti.task_id] = {"state": str(getattr(ti.state, "value", ti.state)),
                                        "try": ti.try_number, "log": text}
    print("RESULT " + json.dumps(out))
""")


def _result(done: subprocess.CompletedProcess) -> dict:
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory, migrated_airflow_db):
    root = tmp_path_factory.mktemp("run_logs")
    home, dags = root / "airflow", root / "dags"
    dags.mkdir()
    (dags / "cx_probe.py").write_text(PROBE_DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "CX_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "CX_ARTIFACTS_DIR": str(root / "artifacts"),
            "CX_WAREHOUSE": str(root / "cx.duckdb"),
            "CX_START_DATE": "2024-01-01",
        }
    )
    home.mkdir()
    shutil.copy(migrated_airflow_db, home / "airflow.db")
    began = time.monotonic()
    ran = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - began
    timing = _result(ran)
    read = subprocess.run([sys.executable, "-c", READ], env=env, capture_output=True, text=True, timeout=300)
    return {"printed": ran.stdout, "timing": {**timing, "outer": wall}, "record": _result(read), "home": home}


def test_the_run_lasts_what_it_took(probe_run):
    from datetime import datetime

    run = probe_run["record"]["run"]
    airflow_s = (datetime.fromisoformat(run["end"]) - datetime.fromisoformat(run["start"])).total_seconds()
    elapsed = probe_run["timing"]["elapsed"]  # what `cx run` prints as "ok in ..s"
    # before: the run started at its logical date, 2024-03-01 (a duration of years)
    assert abs(airflow_s - elapsed) <= 0.1 * elapsed, (airflow_s, probe_run["timing"])


def test_each_task_log_is_where_the_ui_reads_it_with_its_own_lines(probe_run):
    tasks = probe_run["record"]["tasks"]
    assert set(tasks) == {"work", "nothing", "after"}
    for task_id, task in tasks.items():
        log = task["log"]
        assert "Log file not found" not in log, (task_id, log[-2000:])
        assert f"[DAG TEST] starting task_id={task_id} " in log and f"probe line of {task_id}" in log, task_id
        for other in set(tasks) - {task_id}:
            assert f"probe line of {other}" not in log and f"starting task_id={other} " not in log, (task_id, other)
    assert "probe line of work for 2024-03-01" in tasks["work"]["log"]  # ds injected as an argument


def test_a_stage_with_nothing_to_do_is_skipped_and_the_next_one_runs(probe_run):
    tasks = probe_run["record"]["tasks"]
    assert tasks["nothing"]["state"] == "skipped"
    assert tasks["after"]["state"] == "success" and tasks["work"]["state"] == "success"
    assert probe_run["record"]["run"]["state"].endswith("success")
    printed = probe_run["printed"]
    assert "skipped: nothing: no review or ticket texts up to this day" in printed  # cx run's verdict
    assert "nothing                      skipped  skipped: no review or ticket texts up to this day" in printed

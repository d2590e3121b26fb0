"""Airflow for real: a 14-day backfill with several runs at once, then a cleared day.

Starts an Airflow 3 stack in a temporary AIRFLOW_HOME (scheduler with the
LocalExecutor, dag-processor, api-server, triggerer; metadata in SQLite, which
Airflow 3 accepts with the LocalExecutor), on a small generated landing zone and a
temporary warehouse: never the demo data nor the repo's .airflow.

1. `airflow backfill create` over 14 days with --max-active-runs 2 and the
   `latest` ML cadence: every run succeeds at its first try (a DuckDB lock error
   would show up as a retry) and the models train once, on the last day.
2. `airflow tasks clear` on a middle day re-runs it: it succeeds again and every
   table of the warehouse (marts, published tables) is identical to before.
3. The same on the last day, which retrains the models: the model outputs
   (recommendations, segments, sentiment, forecasts, model_runs) are identical too.

The wall times are printed (`pytest -s`), not asserted: speed is measured by
figures, not by timed tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest

from cx.config import PUBLISHED_TABLES

# A real scheduler running a 14-day backfill takes 15-40 minutes on 2 cores: it runs
# with `make test-backfill`, not inside `make test`.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("CX_BACKFILL_TEST") != "1", reason="long Airflow backfill test: run `make test-backfill`"
    ),
    pytest.mark.airflow,
    pytest.mark.dbt,
]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAG_ID = "cx_daily"

LANDING_START = date(2024, 3, 1)
LANDING_DAYS = 20
CUSTOMERS = 300
BACKFILL_FROM = LANDING_START
BACKFILL_TO = LANDING_START + timedelta(days=13)
BACKFILL_DAYS = (BACKFILL_TO - BACKFILL_FROM).days + 1
CLEARED_DAY = LANDING_START + timedelta(days=6)
MAX_ACTIVE_RUNS = 2
# Upper bounds that only stop a hung stack. Days go through the warehouse one at a
# time: about a minute each on an idle 2-core machine, several when it is busy.
BACKFILL_TIMEOUT_S = 60 * 60
RERUN_TIMEOUT_S = 15 * 60
EXTRA_TABLES = ("source_freshness",)  # written by the DAG beside the contract's tables


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowStack:
    """The Airflow components as child processes of the test, and their metadata DB."""

    def __init__(self, home: Path, env: dict[str, str], port: int):
        self.home, self.env, self.port = home, env, port
        self.processes: dict[str, subprocess.Popen] = {}

    def cli(self, *args: str, timeout: float = 300, retry_locked: bool = False) -> str:
        """Run an airflow command; ``retry_locked`` retries an idempotent one that met
        SQLite's "database is locked" (SQLite takes one writer at a time)."""
        for attempt in range(5 if retry_locked else 1):
            done = subprocess.run(
                [str(BIN / "airflow"), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if done.returncode == 0:
                return done.stdout
            if "database is locked" not in done.stdout + done.stderr:
                break
            time.sleep(2 + attempt * 3)
        raise AssertionError(
            f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 -- the component writes it until stop()
        # Own process group, so stop() ends the component and only its children; and
        # ended by the kernel if the test process dies without running its teardown.
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def assert_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited ({proc.returncode}):\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 60) -> str:
        path = self.home / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """End the components and everything they started (task processes, dbt)."""
        import psutil

        started: list[psutil.Process] = []
        for proc in self.processes.values():
            try:
                root = psutil.Process(proc.pid)
                started += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        for proc in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(started, timeout=30)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        for proc in self.processes.values():
            proc.wait(timeout=10)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        for attempt in range(20):
            try:
                with sqlite3.connect(self.home / "airflow.db", timeout=30) as con:
                    return con.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:  # the scheduler may hold a write lock briefly
                if "locked" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def wait_until(self, what: str, predicate, timeout_s: float, every_s: float = 3.0) -> float:
        started = time.monotonic()
        while not predicate():
            self.assert_alive()
            if time.monotonic() - started > timeout_s:
                raise AssertionError(
                    f"timed out after {timeout_s:.0f}s waiting for {what}\nscheduler log:\n{self.tail('scheduler')}"
                )
            time.sleep(every_s)
        return time.monotonic() - started

    def runs(self) -> dict[str, str]:
        return dict(self.query("select run_id, state from dag_run where dag_id = ?", (DAG_ID,)))

    def failures(self) -> str:
        """Failed task instances with the tail of their logs, for a readable assertion."""
        rows = self.query(
            "select run_id, task_id, state, try_number from task_instance where dag_id = ? "
            "and state not in ('success', 'skipped') order by run_id, task_id",
            (DAG_ID,),
        )
        report = [f"{r[0]} {r[1]}: {r[2]} (try {r[3]})" for r in rows]
        for run_id, task_id, _state, _ in rows[:3]:
            for log in sorted((self.home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id={task_id}/*.log")):
                report.append(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(report)


def _airflow_env(home: Path, data: Path, port: int) -> dict[str, str]:
    # Nothing inherited from the caller's Airflow or cx settings (make exports the repo's .airflow).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CX_"))}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # this test is about the DAG
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            # SQLite: several Airflow processes write it; wait for its lock instead of failing after 5 s.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=120",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Only the backfill creates runs: an unpaused DAG would otherwise catch up from its start_date.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Parse the DAG once; re-parsing every 30 s only takes CPU from the runs.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "GX_ANALYTICS_ENABLED": "False",
            "CX_LANDING_DIR": str(data / "landing"),
            "CX_WAREHOUSE": str(data / "warehouse" / "cx.duckdb"),
            "CX_ARTIFACTS_DIR": str(data / "artifacts"),
            "CX_MAX_ACTIVE_RUNS": str(MAX_ACTIVE_RUNS),
        }
    )
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from cx.generate import generate

    root = tmp_path_factory.mktemp("backfill")
    home, data = root / "airflow", root / "data"
    (home / "plugins").mkdir(parents=True)
    generate(data / "landing", LANDING_START, LANDING_DAYS, customers=CUSTOMERS, seed=11)
    port = _free_port()
    af = AirflowStack(home, _airflow_env(home, data, port), port)
    # A SIGTERM (a CI timeout) ends the test through its teardown, which stops Airflow.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    if not (ROOT / "dbt_project" / "target" / "manifest.json").exists():
        subprocess.run([sys.executable, "-c", "from cx.transform import parse; parse()"], env=af.env, check=True)
    af.cli("db", "migrate")
    af.cli("pools", "set", "cx_duckdb", "1", "DuckDB allows one writer")
    af.cli("dags", "reserialize")  # parses dags/ into the metadata DB, as the dag-processor does
    errors = af.query("select filename, stacktrace from import_error")
    assert errors == [], errors
    assert af.query("select count(*) from serialized_dag where dag_id = ?", (DAG_ID,))[0][0] == 1
    af.cli("dags", "unpause", DAG_ID)
    try:
        yield af, data
    finally:
        af.stop()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _start_components(af: AirflowStack) -> None:
    # Tasks report to the api-server's execution API: it must answer before anything runs.
    af.start("api-server", "api-server", "--port", str(af.port), "--workers", "1")
    af.wait_until("the api-server", lambda: _healthy(af.port), 180)
    af.start("scheduler", "scheduler")
    af.start("dag-processor", "dag-processor")
    af.start("triggerer", "triggerer")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _table_hashes(warehouse: Path) -> dict[str, str]:
    import duckdb

    from cx.warehouse import table_hashes

    # Read-only: every run has finished, so no writer holds the file.
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return table_hashes(con)
    finally:
        con.close()


def _ti_states(af: AirflowStack, run_id: str) -> dict[str, str]:
    return dict(af.query("select task_id, state from task_instance where dag_id = ? and run_id = ?", (DAG_ID, run_id)))


def test_backfill_then_clear_a_middle_day_and_the_last(stack):
    af, data = stack
    started = time.monotonic()
    # Created before the components start: creating a backfill's runs is one long
    # SQLite transaction, refused at once when another process writes meanwhile
    # (a SQLite limit; on PostgreSQL, as in docker-compose.yml, it does not arise).
    af.cli(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        BACKFILL_FROM.isoformat(),
        "--to-date",
        BACKFILL_TO.isoformat(),
        "--max-active-runs",
        str(MAX_ACTIVE_RUNS),
        "--dag-run-conf",
        json.dumps({"ml_cadence": "latest"}),
    )
    _start_components(af)

    def finished() -> bool:
        states = af.runs()
        return len(states) == BACKFILL_DAYS and all(s in ("success", "failed") for s in states.values())

    af.wait_until("the backfill's runs", finished, BACKFILL_TIMEOUT_S, every_s=5)
    backfill_s = time.monotonic() - started
    tis = af.query("select count(*) from task_instance where dag_id = ?", (DAG_ID,))[0][0]
    print(
        f"\nbackfill of {BACKFILL_DAYS} days ({CUSTOMERS} customers, --max-active-runs {MAX_ACTIVE_RUNS}, "
        f"{tis} task instances): {backfill_s:.0f}s wall"
    )

    states = af.runs()
    assert set(states.values()) == {"success"}, af.failures()
    # Several runs were in flight at once.
    overlapping = af.query(
        "select count(*) from dag_run a join dag_run b on a.run_id < b.run_id and a.dag_id = b.dag_id "
        "where a.dag_id = ? and a.start_date < b.end_date and b.start_date < a.end_date",
        (DAG_ID,),
    )[0][0]
    assert overlapping > 0
    # No task needed a retry: a DuckDB lock conflict would have failed a first try.
    retried = af.query(
        "select run_id, task_id, try_number from task_instance where dag_id = ? and try_number > 1", (DAG_ID,)
    )
    assert retried == []
    # The latest cadence trained the models once, on the backfill's last day.
    trained = af.query(
        "select run_id from task_instance where dag_id = ? and task_id = 'models.segmentation' and state = 'success'",
        (DAG_ID,),
    )
    assert [r[0] for r in trained] == [r for r in states if BACKFILL_TO.isoformat() in r]
    before = _table_hashes(data / "warehouse" / "cx.duckdb")
    assert {f"main.{t}" for t in (*PUBLISHED_TABLES, *EXTRA_TABLES)} <= set(before)
    filled = (
        "dim_customers",
        "dim_products",
        "fct_orders",
        "customer_segments",
        "customer_recommendations",
        "review_sentiment",
        "sales_forecast",
        "model_runs",
        "dq_results",
        "source_freshness",
    )
    assert all(not before[f"main.{t}"].startswith("0:") for t in filled), before

    for day, trains in ((CLEARED_DAY, False), (BACKFILL_TO, True)):
        (cleared_run,) = [r for r in states if day.isoformat() in r]
        _clear_and_wait(af, day, cleared_run)
        rerun = _ti_states(af, cleared_run)
        assert rerun["load_landing"] == "success" and rerun["publish"] == "success"
        # An older day never retrains under "latest"; the last day does, and reproduces its outputs.
        assert rerun["models.segmentation"] == ("success" if trains else "skipped")
        after = _table_hashes(data / "warehouse" / "cx.duckdb")
        assert set(after) == set(before)
        assert {t: (before[t], after[t]) for t in before if after[t] != before[t]} == {}, day


def _clear_and_wait(af: AirflowStack, day: date, run_id: str) -> None:
    started = time.monotonic()
    af.cli(
        "tasks",
        "clear",
        DAG_ID,
        "--start-date",
        day.isoformat(),
        "--end-date",
        day.isoformat(),
        "--yes",
        retry_locked=True,
    )
    af.wait_until(
        f"the cleared run {run_id}",
        lambda: (
            af.runs()[run_id] in ("success", "failed")
            and af.query(
                "select count(*) from task_instance where dag_id = ? and run_id = ? and state is null", (DAG_ID, run_id)
            )[0][0]
            == 0
        ),
        RERUN_TIMEOUT_S,
    )
    print(f"cleared and re-ran {day}: {time.monotonic() - started:.0f}s wall")
    assert af.runs()[run_id] == "success", af.failures()

"""Acceptance runs: `make run` on real data, judged from Airflow's records and the warehouse.

Each test module builds its landing zone(s) once and runs the pipeline the way a
user does (`make run FROM=... TO=...` in the project root, with CX_LANDING_DIR,
CX_WAREHOUSE and CX_ARTIFACTS_DIR pointing at a temporary folder). Nothing here
relies on CX_START_DATE: the command must work for any range of any year.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.importers import uci

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 1500
BULK_MIN_DAYS = 3  # cx.cli run's default (CX_BULK_MIN_DAYS), which pipeline_env leaves unset
# Airflow tasks that must have run (not skipped) in every run of cx_daily.
CORE_TASKS = ("check_landing_files", "load_landing", "validate", "publish", "validate_published")
# Published tables that are tables of the run's as-of day (the others are current-state views).
CURRENT_STATE = ("dim_customers", "dim_products", "fct_orders", "quarantine")


def uci_src() -> Path:
    """The UCI by-day folder; its absence is a failure, never a skip (CI has ../shared)."""
    src = uci.DEFAULT_SRC.resolve()
    if not src.is_dir() or not any(src.glob("*.csv")):
        pytest.fail(
            f"UCI by-day data not found at {src}: the acceptance suite needs ../shared/data beside the "
            "clone (see ../shared/data/README.md) or CX_UCI_DIR pointing at the by-day folder",
            pytrace=False,
        )
    return src


@dataclass
class Run:
    """One `make run`: its command, output and Airflow's record of the run."""

    command: list[str]
    returncode: int
    output: str
    seconds: float
    records: list[AirflowRun]  # one per Airflow run the command should have made

    def describe(self) -> str:
        tail = "\n".join(self.output.splitlines()[-25:])
        runs = "; ".join(f"{r.day}: dag_run={r.dag_run and r.dag_run['state']}, tasks={r.tasks}" for r in self.records)
        return f"{' '.join(self.command)} -> exit {self.returncode} in {self.seconds:.0f}s; {runs}\n{tail}"

    @property
    def xcoms(self) -> dict[str, object]:
        return self.records[-1].xcoms

    @property
    def tasks(self) -> dict[str, str]:
        return self.records[-1].tasks


@dataclass
class AirflowRun:
    """Airflow's record of one cx_daily run."""

    day: date
    dag_run: dict | None  # dag_run row (state, conf, run_id), None when Airflow recorded none
    tasks: dict[str, str | None] = field(default_factory=dict)  # task_id -> final state
    xcoms: dict[str, object] = field(default_factory=dict)  # task_id -> return value


@dataclass
class Pipeline:
    """A landing zone, a warehouse and the runs made on them."""

    root: Path
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)
    project: Path = ROOT  # the checkout `make` runs in

    @property
    def landing(self) -> Path:
        return Path(self.env["CX_LANDING_DIR"])

    @property
    def warehouse(self) -> Path:
        return Path(self.env["CX_WAREHOUSE"])

    def make_run(self, start: date, end: date) -> Run:
        command = ["make", "--no-print-directory", "run", f"FROM={start}", f"TO={end}"]
        began = time.monotonic()
        done = subprocess.run(
            command, cwd=self.project, env=self.env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
        days = (end - start).days + 1
        # Like `cx.cli run`: a range of BULK_MIN_DAYS or more is one bulk run, shorter ones a run per day.
        expected = [(end, start)] if days >= BULK_MIN_DAYS else [(start + timedelta(d), None) for d in range(days)]
        records = [AirflowRun(day, *airflow_record(self.env, day, first)) for day, first in expected]
        run = Run(command, done.returncode, done.stdout + done.stderr, time.monotonic() - began, records)
        self.runs.append(run)
        return run

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()

    def scalar(self, sql: str, params: list | None = None):
        return self.query(sql, params).iloc[0, 0]


def pipeline_env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX_") or k == "CX_UCI_DIR"}
    env.update(
        CX_LANDING_DIR=str(root / "landing"),
        CX_WAREHOUSE=str(root / "warehouse" / "cx.duckdb"),
        CX_ARTIFACTS_DIR=str(root / "artifacts"),
        **extra,
    )
    return env


def airflow_record(env: dict[str, str], run_date: date, range_start: date | None):
    """The newest cx_daily run of ``run_date`` (with that bulk range_start) in Airflow's metadata DB."""
    home = Path(env.get("AIRFLOW_HOME") or ROOT / ".airflow")
    con = sqlite3.connect(home / "airflow.db")
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute(
            "select id, run_id, state, conf from dag_run where dag_id = 'cx_daily' "
            "and date(logical_date) = ? order by id desc",
            [run_date.isoformat()],
        ).fetchall()
        wanted = range_start.isoformat() if range_start else None
        row = next((r for r in rows if _conf(r["conf"]).get("range_start") == wanted), None)
        if row is None:
            return None, {}, {}
        tasks = {
            r["task_id"]: r["state"]
            for r in con.execute(
                "select task_id, state from task_instance where dag_id = 'cx_daily' and run_id = ?", [row["run_id"]]
            )
        }
        # A stage's summary, or {"skipped": reason} for a stage that had nothing to do (cx.runner.record).
        xcoms = {
            r["task_id"]: {"skipped": _json(r["value"])} if r["key"] == "skip_reason" else _json(r["value"])
            for r in con.execute(
                "select task_id, key, value from xcom where dag_id = 'cx_daily' and run_id = ? "
                "and key in ('return_value', 'skip_reason')",
                [row["run_id"]],
            )
        }
        return dict(row), tasks, xcoms
    finally:
        con.close()


def _conf(value) -> dict:
    if not value:
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
    except (ValueError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _json(value):
    try:
        return json.loads(value) if isinstance(value, str | bytes) else value
    except (ValueError, TypeError):
        return value


def assert_run_succeeded(run: Run) -> None:
    """Success as Airflow recorded it: a dag run, in state success, whose core tasks all ran."""
    assert run.returncode == 0, run.describe()
    for r in run.records:
        assert r.dag_run is not None, f"Airflow recorded no cx_daily run for {r.day}:\n" + run.describe()
        assert r.dag_run["state"] == "success", run.describe()
        bad = {t: s for t, s in r.tasks.items() if s not in ("success", "skipped")}
        assert not bad, f"{r.day}: tasks not successful: {bad}\n" + run.describe()
        missing = [t for t in CORE_TASKS if r.tasks.get(t) != "success"]
        assert not missing, f"{r.day}: core tasks that did not run: {missing}\n" + run.describe()
        assert any(t.startswith("dbt.") and s == "success" for t, s in r.tasks.items()), run.describe()


def succeeded(run: Run) -> bool:
    try:
        assert_run_succeeded(run)
    except AssertionError:
        return False
    return True


def published_counts(p: Pipeline, as_of: date) -> dict[str, int]:
    """Rows per published table: the as-of day's partition, or the whole current-state view."""
    from cx.config import PUBLISHED_TABLES

    counts = {}
    for table in PUBLISHED_TABLES:
        exists = p.scalar(
            "select (select count(*) from duckdb_tables() where schema_name = 'main' and "
            "table_name = $1) + (select count(*) from duckdb_views() where schema_name = 'main' "
            "and view_name = $1)",
            [table],
        )
        if not exists:
            counts[table] = -1
            continue
        where = "" if table in CURRENT_STATE else " where as_of_date = ?"
        counts[table] = int(p.scalar(f"select count(*) from main.{table}{where}", [] if not where else [as_of]))
    return counts


def reconciliation(p: Pipeline) -> pd.DataFrame:
    return p.query(
        "select source, landing_date, landing_rows, clean_rows, quarantined_rows, is_balanced from main.reconciliation"
    )


def assert_reconciled(rec: pd.DataFrame, expected: dict[tuple[str, date], int]) -> None:
    """landing rows = clean + quarantined on every source/day, and landing rows are what was delivered."""
    unbalanced = rec[~rec["is_balanced"].astype(bool)]
    assert unbalanced.empty, f"unbalanced source/days:\n{unbalanced.head(20)}"
    got = {(r.source, pd.Timestamp(r.landing_date).date()): int(r.landing_rows) for r in rec.itertuples()}
    missing = {k: v for k, v in expected.items() if got.get(k) != v}
    assert not missing, (
        f"{len(missing)} source/days whose landing rows differ from the delivery "
        f"(expected: got): {[(k, v, got.get(k)) for k, v in list(missing.items())[:10]]}"
    )
    extra = set(got) - set(expected)
    assert not extra, f"reconciliation rows for source/days never delivered: {sorted(extra)[:10]}"


def assert_as_of(p: Pipeline, as_of: date, tables: tuple[str, ...]) -> None:
    for table in tables:
        days = p.query(f"select distinct as_of_date from main.{table}")["as_of_date"]
        days = {pd.Timestamp(d).date() for d in days}
        assert days == {as_of}, f"main.{table} carries as_of_date {sorted(days)}, expected {as_of}"

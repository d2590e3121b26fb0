"""Running dbt (build, parse, docs) in-process against the warehouse.

Airflow renders the project with Cosmos; this module is the same build for the
command line, the tests and the initial bulk load.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from cx.config import Settings, load_settings
from cx.warehouse import warehouse_lock

log = logging.getLogger(__name__)


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment dbt needs: the warehouse path and telemetry off."""
    return {
        "CX_WAREHOUSE": str(settings.warehouse),
        "CX_PII_SALT": settings.pii_salt,
        "CX_DUCKDB_THREADS": str(settings.duckdb_threads),
        "CX_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def run_vars(run_from: date, run_to: date) -> dict[str, str]:
    return {"run_from": run_from.isoformat(), "run_to": run_to.isoformat()}


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the project venv or the image)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def run_dbt(args: list[str], settings: Settings | None = None) -> None:
    """Run dbt in a child process, so its DuckDB connection closes when it ends.

    Raises with the tail of dbt's output when it fails.
    """
    settings = settings or load_settings()
    project = str(settings.dbt_project_dir)
    command = [dbt_executable(), *args, "--project-dir", project, "--profiles-dir", project]
    log.info("running %s", " ".join(command))
    completed = subprocess.run(
        command, env={**os.environ, **dbt_env(settings)}, cwd=project,
        capture_output=True, text=True, check=False,
    )
    for line in completed.stdout.splitlines():
        log.info("dbt | %s", line)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"dbt {args[0]} failed (exit {completed.returncode}):\n{tail}")


def build(
    run_from: date,
    run_to: date,
    settings: Settings | None = None,
    full_refresh: bool = False,
    select: str | None = None,
) -> None:
    """``dbt build`` for the extraction days [run_from, run_to] under the writer lock."""
    settings = settings or load_settings()
    args = ["build", "--vars", json.dumps(run_vars(run_from, run_to))]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    with warehouse_lock(settings.warehouse, settings.lock_timeout_s):
        run_dbt(args, settings)


def parse(settings: Settings | None = None) -> Path:
    """Write target/manifest.json, which the Airflow DAG renders its dbt tasks from."""
    settings = settings or load_settings()
    run_dbt(["parse"], settings)
    return settings.dbt_project_dir / "target" / "manifest.json"

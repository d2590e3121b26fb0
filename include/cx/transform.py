"""Running dbt (build, parse, docs) in-process against the warehouse.

Airflow renders the project with Cosmos; this module is the same build for the
command line, the tests and the initial bulk load.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from cx.config import Settings, dbt_process_env, dbt_secret_env, executable, load_settings
from cx.warehouse import warehouse_lock

log = logging.getLogger(__name__)


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment dbt needs: the warehouse and its settings, telemetry off, the PII salt."""
    return {**dbt_process_env(settings), **dbt_secret_env(settings)}


def run_vars(run_from: date, run_to: date) -> dict[str, str]:
    return {"run_from": run_from.isoformat(), "run_to": run_to.isoformat()}


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the project venv or the image)."""
    return executable("dbt")


def run_dbt(args: list[str], settings: Settings | None = None) -> None:
    """Run dbt in a child process, so its DuckDB connection closes when it ends.

    Raises with the tail of dbt's output when it fails.
    """
    settings = settings or load_settings()
    project = str(settings.dbt_project_dir)
    command = [dbt_executable(), *args, "--project-dir", project, "--profiles-dir", project]
    log.info("running %s", " ".join(command))
    completed = subprocess.run(
        command,
        env={**os.environ, **dbt_env(settings)},
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
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
    tests: bool = True,
    unit_tests: bool = False,
) -> None:
    """``dbt build`` for the extraction days [run_from, run_to] under the writer lock.

    Data tests run with the build (they check the data); ``tests=False`` leaves them
    out, for loads whose result is checked otherwise. dbt unit tests check the SQL,
    not the data, so they run only when asked (the test suite), like in production.
    """
    settings = settings or load_settings()
    args = ["build", "--vars", json.dumps(run_vars(run_from, run_to))]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    if not tests:
        args += ["--exclude-resource-type", "test"]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    with warehouse_lock(settings.warehouse, settings.lock_timeout_s):
        run_dbt(args, settings)


def docs_generate(target_dir: Path | None = None, settings: Settings | None = None) -> Path:
    """Write the dbt documentation site (models, tests, lineage, column docs and the
    warehouse catalog) as static files; returns the page to open.

    The files go to ``target_dir`` (default ``$CX_ARTIFACTS_DIR/dbt_docs``):
    ``index.html`` is dbt's single-file static page (manifest and catalog embedded,
    so it opens from disk or any static file server, no ``dbt docs serve``), beside
    ``manifest.json`` and ``catalog.json`` for tools. dbt writes into a scratch
    target path, so the project's ``target/manifest.json`` (which the DAG renders
    from) is left alone; the folder is swapped in whole, so readers never see a
    half-written site.
    """
    settings = settings or load_settings()
    target_dir = Path(target_dir) if target_dir else settings.artifacts_dir / "dbt_docs"
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".dbt_docs-", dir=target_dir.parent))
    try:
        with warehouse_lock(settings.warehouse, settings.lock_timeout_s):
            run_dbt(["docs", "generate", "--static", "--target-path", str(scratch / "target")], settings)
        site = scratch / "site"
        site.mkdir()
        shutil.copyfile(scratch / "target" / "static_index.html", site / "index.html")
        for name in ("manifest.json", "catalog.json"):
            shutil.copyfile(scratch / "target" / name, site / name)
        old = scratch / "old"
        if target_dir.exists():
            target_dir.rename(old)
        site.rename(target_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target_dir / "index.html"


def parse(settings: Settings | None = None) -> Path:
    """Write target/manifest.json, which the Airflow DAG renders its dbt tasks from."""
    settings = settings or load_settings()
    run_dbt(["parse"], settings)
    return settings.dbt_project_dir / "target" / "manifest.json"

"""DuckDB settings from config reach both writers: the pipeline's connections and dbt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cx.config import load_settings
from cx.transform import dbt_env
from cx.warehouse import connect

PROFILE = Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml"


def test_connect_applies_the_duckdb_settings(tmp_path: Path) -> None:
    settings = load_settings().replace(
        warehouse=tmp_path / "cx.duckdb",
        duckdb_threads=1,
        duckdb_memory_limit="1GB",
        duckdb_max_vacuum_tasks=3,
        duckdb_checkpoint_threshold="64MB",
    )
    with connect(settings) as con:
        value = {
            name: con.execute(f"select current_setting('{name}')").fetchone()[0]
            for name in ("threads", "memory_limit", "max_vacuum_tasks", "checkpoint_threshold")
        }
    assert value["threads"] == 1
    assert value["max_vacuum_tasks"] == 3
    assert value["memory_limit"] == "953.6 MiB"  # DuckDB reports 1GB in MiB
    assert value["checkpoint_threshold"] == "61.0 MiB"


@pytest.mark.parametrize(
    "name",
    ["CX_DUCKDB_THREADS", "CX_DUCKDB_MEMORY_LIMIT", "CX_DUCKDB_MAX_VACUUM_TASKS", "CX_DUCKDB_CHECKPOINT_THRESHOLD"],
)
def test_dbt_reads_each_duckdb_setting_the_pipeline_passes(name: str) -> None:
    assert name in dbt_env(load_settings())
    assert re.search(rf"env_var\('{name}'", PROFILE.read_text())


def test_cosmos_dbt_tasks_get_the_same_duckdb_settings_without_the_salt() -> None:
    from cx.airflow_support import dbt_task_env

    settings = load_settings()
    task_env, pipeline_env = dbt_task_env(settings), dbt_env(settings)
    shared = {name: value for name, value in pipeline_env.items() if name != "CX_PII_SALT"}
    assert shared.items() <= task_env.items()
    assert "CX_PII_SALT" not in task_env  # rendered in the UI: no secret

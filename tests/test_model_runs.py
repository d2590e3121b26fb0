"""model_runs: typed from the first write, one copy per model and day; the model stages' skeleton."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.config import Settings, load_settings
from cx.errors import NothingToDo
from cx.model_runs import COLUMNS, Metric, write_model_runs, write_runs
from cx.models._stage import StageOutput, config_from_settings, run_stage


def test_first_write_without_details_keeps_types_and_reruns_replace() -> None:
    con = duckdb.connect()
    day = date(2024, 1, 1)
    write_model_runs(con, "a", "v1", [Metric("p@10", 0.2, 0.1, True)], day)
    write_model_runs(con, "b", "v1", [Metric("mase", 1.1, details={"folds": 3})], day)
    write_model_runs(con, "a", "v1", [Metric("p@10", 0.3, 0.1, True)], day)  # re-run of the day
    rows = con.execute("select model, value, details from model_outputs.model_runs order by model").fetchall()
    assert rows == [("a", 0.3, None), ("b", 1.1, '{"folds": 3}')]
    types = dict(
        con.execute("select column_name, data_type from duckdb_columns() where table_name = 'model_runs'").fetchall()
    )
    assert types["details"] == "VARCHAR" and types["passed"] == "BOOLEAN"


def test_several_versions_keep_the_declared_columns_whoever_writes_first() -> None:
    con = duckdb.connect()
    day = date(2024, 1, 1)
    # The forecast writes first: one version per series, the table still has the DDL's columns.
    write_runs(con, "forecast", [("prophet", [Metric("mase:a", 0.8)]), ("naive", [Metric("mase:b", 1.0)])], day)
    write_model_runs(con, "sentiment", "v1", [Metric("f1", 0.7)], day)
    columns = [
        c
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where table_name = 'model_runs' order by column_index"
        ).fetchall()
    ]
    assert columns == [*COLUMNS, "as_of_date"]
    write_runs(con, "forecast", [("naive", [Metric("mase:a", 1.0)])], day)  # a re-run replaces only its model's rows
    rows = con.execute("select model, metric, model_version from model_outputs.model_runs order by all").fetchall()
    assert rows == [("forecast", "mase:a", "naive"), ("sentiment", "f1", "v1")]


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "cx.duckdb"))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return load_settings()


def _rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_stage_skeleton_writes_the_day_once_and_nothing_when_there_is_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, monkeypatch)
    day = date(2024, 1, 2)

    def compute(n: int) -> StageOutput:
        if n == 0:
            raise NothingToDo("no rows today")
        frame = pd.DataFrame({"id": [str(i) for i in range(n)]})
        return StageOutput({"things": frame}, [("v1", [Metric("n", float(n))])], {"rows": n})

    for n in (3, 2):  # a re-run of the day replaces it
        summary = run_stage("things", day, settings, lambda con, n=n: n, compute)
        assert summary["rows"] == n and "seconds" in summary
    assert _rows(settings, "select count(*), min(as_of_date) from model_outputs.things") == [(2, day)]
    assert _rows(settings, "select model, metric, value from model_outputs.model_runs") == [("things", "n", 2.0)]
    with pytest.raises(NothingToDo, match="no rows today"):
        run_stage("things", date(2024, 1, 3), settings, lambda con: 0, compute)
    assert _rows(settings, "select count(*) from model_outputs.things where as_of_date = '2024-01-03'") == [(0,)]


def test_config_from_settings_reads_the_mirrored_fields_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_SEED", "7")
    settings = _settings(tmp_path, monkeypatch)

    @dataclass(frozen=True)
    class Config:
        seed: int = 42
        top_n: int = 10
        other: str = "default"

    assert config_from_settings(Config, settings, {"seed": "seed"}) == Config(seed=7)
    assert config_from_settings(Config, settings, {"seed": "seed"}, seed=1, top_n=3) == Config(seed=1, top_n=3)

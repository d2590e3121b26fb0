"""`cx run` through a real `airflow dags test` (every task marked success, so it costs
seconds): a day before CX_START_DATE gets its task instances, and the verdict comes
from Airflow's record: tasks that "succeeded" without returning what they did fail it."""

from __future__ import annotations

from datetime import date

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.dbt]


def test_a_day_before_the_start_date_runs_its_tasks_and_is_judged_from_airflow(monkeypatch, tmp_path, capsys):
    from cx.cli import dag_test

    monkeypatch.setenv("CX_START_DATE", "2024-01-01")
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "cx.duckdb"))
    with pytest.raises(SystemExit) as failed:
        dag_test(date(1999, 12, 31), extra_args=("--mark-success-pattern", ".*"))
    message = str(failed.value)
    # Before the fix Airflow created the run without task instances and the CLI said "ok".
    assert "no task ran" not in message
    # Marked success without running: the model stages returned nothing, so the run did no work.
    for stage in ("sentiment", "segmentation", "recommendations", "forecasting"):
        assert f"models.{stage} succeeded but returned no summary" in message
    printed = capsys.readouterr().out
    assert "check_landing_files" in printed and "dbt" in printed  # the per-stage lines, from the record
    assert len(list((tmp_path / "artifacts" / "run_logs").glob("cx_daily_1999-12-31_*.log"))) == 1

"""The warehouse's parsing macros (dbt_project/macros/parsing.sql) as dbt installs
them, for both orders of numeric dates (CX_DATE_ORDER)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cx.config import load_settings
from cx.transform import run_dbt

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("order", ["DMY", "MDY"])
def test_timestamps_and_numbers_from_other_shops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = replace(load_settings(), warehouse=warehouse, date_order=order)
    run_dbt(["run-operation", "install_parsing_macros"], settings)
    con = duckdb.connect(str(warehouse), read_only=True)

    def ts(text: str) -> datetime | None:
        return con.execute("select reference.parse_ts(?)", [text]).fetchone()[0]

    day_first = order == "DMY"
    assert ts("2024-12-31T23:30:00+02:00") == datetime(2024, 12, 31, 21, 30)
    # The naive shape read without the time zone cast, and look-alikes that must not be.
    assert ts("2024-12-31 23:30:00") == ts("2024-12-31T23:30:00") == datetime(2024, 12, 31, 23, 30)
    assert ts("2024-12-31 23:30+02") == datetime(2024, 12, 31, 21, 30)
    assert ts("2024-02-30 10:00:00") is None
    assert ts("03/04/2024") == (datetime(2024, 4, 3) if day_first else datetime(2024, 3, 4))
    assert ts("12/31/2024 8:26") == (None if day_first else datetime(2024, 12, 31, 8, 26))
    assert ts("31.12.2024 08:15") == (datetime(2024, 12, 31, 8, 15) if day_first else None)
    assert ts("2024/12/31") == datetime(2024, 12, 31)
    assert ts("1704067200") == datetime(2024, 1, 1)
    assert ts("yesterday") is None
    numbers = ["€1.234,50", "$ 5.00", "1,234.50", "12,99", "1 000", "-3"]
    parsed = [con.execute("select reference.parse_number(?)", [n]).fetchone()[0] for n in numbers]
    assert parsed == [1234.5, 5.0, 1234.5, 12.99, 1000.0, -3.0]
    con.close()

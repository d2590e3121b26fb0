"""The warehouse's parsing macros (dbt_project/macros/parsing.sql) as dbt installs
them, for both orders of numeric dates (CX_DATE_ORDER)."""

from __future__ import annotations

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
    settings = load_settings().replace(warehouse=warehouse, date_order=order)
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
    # Other years, both orders: a 1998 or 2016 history and a 2031 one parse as such.
    assert ts("1998-06-30 12:00:00") == datetime(1998, 6, 30, 12)
    assert ts("2031-01-02") == datetime(2031, 1, 2)
    assert ts("09/01/2016") == (datetime(2016, 1, 9) if day_first else datetime(2016, 9, 1))
    assert ts("12/25/1999 23:59") == (None if day_first else datetime(1999, 12, 25, 23, 59))

    def number(text: str) -> float | None:
        return con.execute("select reference.parse_number(?)", [text]).fetchone()[0]

    numbers = {
        "€1.234,50": 1234.5,
        "$ 5.00": 5.0,
        "1,234.50": 1234.5,
        "12,99": 12.99,
        "1 000": 1000.0,
        "-3": -3.0,
        "1 000 EUR": 1000.0,
        "12,99 eur": 12.99,
        "1'000.50": 1000.5,
        "1.234.567": 1234567.0,
        "1,23,456.00": 123456.0,
        ".5": 0.5,
        # scientific notation read as such, never with its exponent glued on (1e308 -> 1308)
        "1e308": 1e308,
        "1.5e3": 1500.0,
        "2E2": 200.0,
        "1,5e3": 1500.0,
        "-2.5E-2": -0.025,
        "1e400": float("inf"),
        # accounting negatives
        "(5.00)": -5.0,
        "($5.00)": -5.0,
        "-$5": -5.0,
        # no reading is safe: rejected (NULL), quarantined as unparseable_number
        "0x10": None,
        "1.5k": None,
        "5.00-": None,
        "n/a": None,
        "inf": None,
        "NaN": None,
        "--5": None,
        "(-5)": None,
        "1.2,3": None,
        "1,234,56": None,
        "EUR": None,
        "": None,
        "1,5 Mio": None,
        "2 kg": None,
        "99999999999999999999": 1e20,  # parsed; the staging range check quarantines it
    }
    assert {text: number(text) for text in numbers} == numbers

    def email(text: str) -> str | None:
        return con.execute("select reference.clean_email(?)", [text]).fetchone()[0]

    assert email("  Ann.Lee+news@Example.co.UK ") == "ann.lee+news@example.co.uk"
    # A JSON object (a struct) holding an address is no address.
    assert email('{"email":"ann@b.co"}') is None
    assert email("{'email':'ann@b.co'}") is None
    assert email("ann@b") is None and email("ann@@b.co") is None
    structured = ["{'given': 'Ann'}", '{"given": "Ann"}', "[1, 2]", " {a: 1} "]
    assert all(con.execute("select reference.is_structured(?)", [t]).fetchone()[0] for t in structured)
    assert not any(
        con.execute("select reference.is_structured(?)", [t]).fetchone()[0]
        for t in ["Ann", "Ann {the first}", "O'Brien", "[sic] Ann"]
    )
    con.close()

"""Values an adversarial export carries, through ingest and the real dbt build: each one
is parsed right, repaired with a count, or quarantined with its reason; none crashes
the build (a 20-digit quantity used to fail the DECIMAL cast), none is published
silently wrong, and reconciliation balances (docs/parsing.md)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cx.config import load_settings
from cx.contract import LANDING_SOURCES
from cx.ingest import ingest_range
from cx.transform import build
from cx.warehouse import connect

pytestmark = pytest.mark.e2e

DAY = date(2024, 3, 5)
ROWS: dict[str, list[dict[str, str]]] = {
    "customers": [
        # a sign-up in 2031 must not become first_seen_at
        {
            "customer_id": "C1",
            "email": "ann@b.co",
            "first_name": "Ann",
            "signup_date": "2031-01-01",
            "country": "FR",
            "updated_at": "2024-03-05 08:00:00",
        },
        # a JSON object as e-mail, a struct as first name, an impossible birth date
        {
            "customer_id": "C2",
            "email": '{"email":"x@y.co"}',
            "first_name": "{'given': 'Bo'}",
            "birth_date": "31/02/1990",
            "updated_at": "2024-03-05 08:00:00",
        },
        {"customer_id": "C3", "email": "c@d.co", "updated_at": "1970-01-01 00:00:00"},
    ],
    "products": [
        {
            "product_id": "P1",
            "name": "Mug",
            "category": "kitchen",
            "price": "5.00",
            "updated_at": "2024-03-05 08:00:00",
        },
        {
            "product_id": "P2",
            "name": "Cup",
            "category": "kitchen",
            "price": "1e308",
            "updated_at": "2024-03-05 08:00:00",
        },
    ],
    "orders": [
        {
            "order_id": "O1",
            "customer_id": "C1",
            "ordered_at": "2024-03-05 09:00:00",
            "status": "placed",
            "channel": "web",
            "currency": "EUR",
        },
        {
            "order_id": "O2",
            "customer_id": "C1",
            "ordered_at": "0001-01-01 00:00:00",
            "status": "placed",
            "channel": "web",
            "currency": "EUR",
        },
        {
            "order_id": "O3",
            "customer_id": "C1",
            "ordered_at": "1970-01-01T00:00:00Z",
            "status": "placed",
            "channel": "web",
            "currency": "EUR",
        },
    ],
    "order_items": [
        {"order_id": "O1", "product_id": "P1", "quantity": "2", "unit_price": "1.5e3"},
        {"order_id": "O1", "product_id": "P1", "quantity": "(1)", "unit_price": "2E2"},
        {"order_id": "O1", "product_id": "P404", "quantity": "1", "unit_price": "10.00"},
        {"order_id": "O1", "product_id": "P1", "quantity": "99999999999999999999", "unit_price": "1.00"},
        {"order_id": "O1", "product_id": "P1", "quantity": "1", "unit_price": "0x10"},
    ],
}
COLUMNS = {
    source: list(LANDING_SOURCES[source].columns) for source in ("customers", "products", "orders", "order_items")
}


def _write(landing: Path, source: str, day: date, rows: list[dict[str, str]]) -> None:
    folder = landing / source / day.isoformat()
    folder.mkdir(parents=True)
    with open(folder / "export.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS[source])
        writer.writeheader()
        writer.writerows(rows)


def test_adversarial_values_are_parsed_repaired_or_quarantined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    for source, rows in ROWS.items():
        _write(landing, source, DAY, rows)
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = load_settings().replace(warehouse=warehouse, landing_dir=landing)
    with connect(settings) as con:
        ingest_range(con, landing, DAY, DAY)
    build(DAY, DAY, settings, tests=False)

    con = duckdb.connect(str(warehouse), read_only=True)
    quarantined = {
        (source, reason): n
        for source, reason, n in con.execute(
            "select source, reason, count(*) from marts.quarantine group by 1, 2"
        ).fetchall()
    }
    assert quarantined == {
        ("customers", "implausible_timestamp"): 1,
        ("products", "value_out_of_range"): 1,
        ("orders", "implausible_timestamp"): 2,
        ("order_items", "unknown_product"): 1,
        ("order_items", "value_out_of_range"): 1,
        ("order_items", "unparseable_number"): 1,
    }
    # 2 x 1,500 sold, 1 x 200 returned (accounting negative); the unknown product's
    # line is not revenue.
    assert con.execute("select order_amount, returned_amount, items_count from marts.fct_orders").fetchall() == [
        (3000.0, 200.0, 2)
    ]
    first_seen = con.execute(
        "select first_seen_at from marts.dim_customers where signup_date is null and first_seen_at is not null"
    ).fetchall()
    assert first_seen == [(datetime(2024, 3, 5, 9, 0),)]
    assert con.execute("select max(first_seen_at) from marts.dim_customers").fetchone()[0] < datetime(2025, 1, 1)
    repairs = {
        (source, repair): n
        for source, _, repair, n in con.execute("select * from intermediate.int_repaired_fields").fetchall()
    }
    assert repairs == {
        ("customers", "signup_date"): 1,
        ("customers", "email"): 1,
        ("customers", "first_name"): 1,
        ("customers", "birth_date"): 1,
    }
    assert con.execute(
        "select bool_and(is_balanced), sum(landing_rows), sum(quarantined_rows) from marts.reconciliation"
    ).fetchone() == (True, 13, 7)
    con.close()

    # The catalog catches up the next day: the daily (incremental) run releases the
    # line, and the order's amount counts it.
    later = DAY + timedelta(days=1)
    _write(
        landing,
        "products",
        later,
        [
            {
                "product_id": "P404",
                "name": "Bowl",
                "category": "kitchen",
                "price": "10.00",
                "updated_at": "2024-03-06 08:00:00",
            }
        ],
    )
    with connect(settings) as con:
        ingest_range(con, landing, later, later)
    build(later, later, settings, tests=False)
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select order_amount, items_count from marts.fct_orders").fetchall() == [(3010.0, 3)]
    assert con.execute("select count(*) from marts.quarantine where reason = 'unknown_product'").fetchone() == (0,)
    assert con.execute(
        "select bool_and(is_balanced), sum(landing_rows), sum(quarantined_rows) from marts.reconciliation"
    ).fetchone() == (True, 14, 6)
    con.close()

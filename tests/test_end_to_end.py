"""One end-to-end run through Airflow on a small generated landing zone.

A bulk load of the first days, then one daily run, then the same day again: every
published table is filled, reconciliation holds on every source and day, and the
re-run leaves the marts byte-for-byte equal.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from cx.config import PUBLISHED_TABLES, load_settings

pytestmark = pytest.mark.e2e

START = date(2024, 10, 1)
DAYS = 35
LAST = START + timedelta(days=DAYS - 1)
MART_TABLES = ("dim_customers", "dim_products", "fct_orders", "fct_interactions", "fct_daily_sales",
               "customer_features", "fct_texts", "quarantine", "reconciliation")


def _hash(con, table: str) -> str:
    return con.execute(
        f"select count(*) || ':' || coalesce(sum(hash(t)), 0) from marts.{table} t"
    ).fetchone()[0]


@pytest.fixture(scope="module")
def pipeline_env(tmp_path_factory):
    from cx.generate import generate

    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("CX_LANDING_DIR", str(root / "landing"))
    mp.setenv("CX_WAREHOUSE", str(root / "warehouse" / "cx.duckdb"))
    mp.setenv("CX_ARTIFACTS_DIR", str(root / "artifacts"))
    generate(root / "landing", START, DAYS, customers=400, seed=7)
    yield root
    mp.undo()


def test_bulk_then_daily_then_rerun(pipeline_env):
    from cx.cli import dag_test
    from cx.warehouse import connect

    settings = load_settings()
    dag_test(LAST - timedelta(days=1), range_start=START)
    dag_test(LAST)
    with connect(settings) as con:
        first = {t: _hash(con, t) for t in MART_TABLES}
        counts = {
            t: con.execute(
                f"select count(*) from main.{t}"
                + (" where as_of_date = ?" if t not in ("dim_customers", "dim_products", "fct_orders", "quarantine") else ""),
                [LAST] if t not in ("dim_customers", "dim_products", "fct_orders", "quarantine") else [],
            ).fetchone()[0]
            for t in PUBLISHED_TABLES
        }
        unbalanced = con.execute("select count(*) from marts.reconciliation where not is_balanced").fetchone()[0]
        reconciled_days = con.execute("select count(distinct landing_date) from marts.reconciliation").fetchone()[0]
        quarantined = con.execute("select count(*) from main.quarantine").fetchone()[0]
    assert all(n > 0 for n in counts.values()), counts
    assert unbalanced == 0
    assert reconciled_days == DAYS
    manifest = json.loads((pipeline_env / "landing" / "_manifest.json").read_text())
    assert quarantined >= manifest["defects"]["unparseable_row"]["count"]

    dag_test(LAST)
    with connect(settings) as con:
        again = {t: _hash(con, t) for t in MART_TABLES}
    assert again == first

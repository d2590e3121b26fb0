"""One end-to-end run through Airflow on a small generated landing zone.

A bulk load of the first days, then one daily run, then the same day again: every
published table is filled, reconciliation holds on every source and day, and the
re-run, models retrained, leaves every table of the warehouse equal, row for row:
the marts and every published table, model outputs and model_runs included. The dbt
docs site the runs wrote is one static page with the manifest and the catalog.
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
    from cx.warehouse import connect, table_hashes

    settings = load_settings()
    dag_test(LAST - timedelta(days=1), range_start=START)
    dag_test(LAST)
    with connect(settings) as con:
        first = table_hashes(con)
        counts = {
            t: con.execute(
                f"select count(*) from main.{t}"
                + (
                    " where as_of_date = ?"
                    if t not in ("dim_customers", "dim_products", "fct_orders", "quarantine")
                    else ""
                ),
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

    assert {f"main.{t}" for t in PUBLISHED_TABLES} <= set(first)

    docs = settings.artifacts_dir / "dbt_docs"
    (docs / "stale.html").write_text("from an earlier run")
    dag_test(LAST)  # the same day again: every stage re-runs, the models retrain
    with connect(settings) as con:
        again = table_hashes(con)
    assert set(again) == set(first)
    assert {t: (first[t], again[t]) for t in first if again[t] != first[t]} == {}

    # The dbt docs site (the dbt_docs task): replaced whole, one static page embedding
    # the manifest and the warehouse catalog, no scratch folder left behind.
    assert sorted(p.name for p in docs.iterdir()) == ["catalog.json", "index.html", "manifest.json"]
    html = (docs / "index.html").read_text()
    assert "model.cx.fct_orders" in html and "int_web_events__sessionised" in html
    catalog = json.loads((docs / "catalog.json").read_text())
    assert "order_amount" in {c.lower() for c in catalog["nodes"]["model.cx.int_orders"]["columns"]}
    assert not list(docs.parent.glob(".dbt_docs-*"))

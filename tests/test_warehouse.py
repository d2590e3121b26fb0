"""The warehouse (ingest + dbt) on a small generated landing zone, without Airflow.

One landing zone of five days (cx.generate, defects at 8x their usual rate), loaded
twice:

* in order: days 1-4 as a bulk run, then day 5; then the whole range again (with
  every dbt data and unit test);
* out of order: days 4-5, then days 1-3; then day 5 again.

Every relation of staging, intermediate and marts (tables and views) is compared by
a content hash: re-runs and the out-of-order backfill must leave them byte-for-byte
equal. Reconciliation and the quarantine are checked against the generator's
manifest and its row-level defect truth (_truth/defects.csv). The dbt docs site is
checked in test_end_to_end.py, where the DAG's dbt_docs task writes it.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.config import Settings, load_settings
from cx.ingest import ingest_range
from cx.transform import build
from cx.warehouse import connect

pytestmark = pytest.mark.e2e

START = date(2024, 5, 1)
DAYS = 5
DAY = [START + timedelta(days=i) for i in range(DAYS)]
SCHEMAS = ("staging", "intermediate", "marts")
# Generator defect kind -> quarantine reason (unparseable rows: 'unparseable: ...').
REASONS = {
    "unknown_enum": {"orders": "unknown_enum", "web_events": "unknown_enum"},
    "nonpositive_price": {"products": "non_positive_price", "order_items": "non_positive_price"},
    "orphan_key": {"orders": "orphan_customer", "order_items": "orphan_order"},
    "future_timestamp": "future_timestamp",
    "missing_required_key": "missing_required_key",
    "unparseable_row": "unparseable",
}
DUPLICATES = ("duplicate_row", "duplicate_file")


def _load(settings: Settings, first: date, last: date, tests: bool = False) -> None:
    """One pipeline run of the warehouse stage: ingest [first, last], then dbt build."""
    with connect(settings) as con:
        ingest_range(con, settings.landing_dir, first, last)
    build(first, last, settings, tests=tests, unit_tests=tests)


def _state(settings: Settings) -> dict[str, str]:
    """relation -> its columns and types plus an order-independent hash of its rows."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        relations = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            f"where table_schema in {SCHEMAS} order by 1"
        ).fetchall()
        state = {}
        for (name,) in relations:
            columns = con.execute(f"select column_name, column_type from (describe {name})").fetchall()
            rows, digest = con.execute(
                f"select count(*), md5(coalesce(string_agg(md5(t::varchar), '' order by md5(t::varchar)), '')) "
                f"from {name} t"
            ).fetchone()
            state[name] = f"{columns}|{rows}|{digest}"
        return state
    finally:
        con.close()


def _read(settings: Settings, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cx.generate import generate

    root = tmp_path_factory.mktemp("warehouse") / "landing"
    generate(root, START, DAYS, customers=300, seed=11, defect_scale=8.0)
    return root


@pytest.fixture(scope="module")
def in_order(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = load_settings().replace(landing_dir=landing, warehouse=tmp_path_factory.mktemp("in_order") / "cx.duckdb")
    _load(settings, DAY[0], DAY[3])
    after_bulk = _state(settings)
    _load(settings, DAY[4], DAY[4])
    final = _state(settings)
    # The whole range again, with every dbt data and unit test.
    _load(settings, DAY[0], DAY[4], tests=True)
    return {"settings": settings, "after_bulk": after_bulk, "final": final, "rerun_range": _state(settings)}


@pytest.fixture(scope="module")
def shuffled(in_order: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = in_order["settings"].replace(warehouse=tmp_path_factory.mktemp("shuffled") / "cx.duckdb")
    # The first run only sees days 4-5: orders of customers the CRM delivered on day 1
    # are orphans until day 1 arrives, and must then be resolved.
    _load(settings, DAY[3], DAY[4])
    _load(settings, DAY[0], DAY[2])
    backfilled = _state(settings)
    _load(settings, DAY[4], DAY[4])
    return {"backfilled": backfilled, "rerun_day": _state(settings)}


@pytest.fixture(scope="module")
def empty_days(in_order: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The in-order warehouse, then two days on which nothing arrived at all (a range
    ending with empty days), then day 2 re-run out of order."""
    settings = in_order["settings"].replace(warehouse=tmp_path_factory.mktemp("empty_days") / "cx.duckdb")
    shutil.copy(in_order["settings"].warehouse, settings.warehouse)
    quiet = [DAY[4] + timedelta(days=k) for k in (1, 2)]
    _load(settings, quiet[0], quiet[1])
    after = _state(settings)
    _load(settings, DAY[1], DAY[1])
    return {"settings": settings, "quiet": quiet, "after": after, "rerun": _state(settings)}


def test_days_without_arrivals_move_the_as_of_day_and_the_checks_agree(empty_days: dict) -> None:
    from cx.quality.checkpoint import Validator, load_frames, validate_frames
    from cx.quality.policy import Policy
    from cx.run_days import warehouse_as_of

    settings, (first, last) = empty_days["settings"], empty_days["quiet"]
    stamps = _read(
        settings,
        """
        select 'dim_customers' as mart, min(as_of_date) as lo, max(as_of_date) as hi from marts.dim_customers
        union all select 'dim_products', min(as_of_date), max(as_of_date) from marts.dim_products
        union all select 'fct_orders', min(as_of_date), max(as_of_date) from marts.fct_orders""",
    )
    assert (stamps["lo"] == pd.Timestamp(last)).all() and (stamps["hi"] == pd.Timestamp(last)).all(), stamps
    # Nothing arrived after day 5: the as-of day is no delivery day.
    assert (
        _read(settings, f"select count(*) as n from landing.deliveries where _landing_date > '{DAY[4]}'")["n"].iloc[0]
        == 0
    )
    with connect(settings) as con:
        assert warehouse_as_of(con) == last
        loaded = load_frames(con, first, last, Policy(), settings, "inputs")
    results = validate_frames(loaded.frames, loaded.params, Validator(Policy()), "inputs")
    critical = [r.describe() for r in results if r.failed and r.severity == "critical"]
    assert not critical and not loaded.missing, critical or loaded.missing
    assert {"dim_customers", "dim_products"} <= {r.suite for r in results if r.success}


def test_older_day_rerun_after_empty_days_keeps_their_as_of_day(empty_days: dict) -> None:
    assert not _differences(empty_days["after"], empty_days["rerun"])
    with connect(empty_days["settings"]) as con:
        days = [r[0] for r in con.execute("select _landing_date from landing.processed_days order by 1").fetchall()]
    assert days == [*DAY, *empty_days["quiet"]]


def _differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_state_covers_every_layer(in_order: dict) -> None:
    final = in_order["final"]
    assert {
        "marts.dim_customers",
        "marts.fct_orders",
        "intermediate.int_orders",
        "intermediate.int_web_events__sessionised",
        "staging.stg_web_events",
    } <= set(final)
    # The comparisons below are not vacuous: loading day 5 did change the warehouse.
    assert _differences(in_order["after_bulk"], final)


def test_rerunning_the_range_changes_nothing(in_order: dict) -> None:
    assert not _differences(in_order["final"], in_order["rerun_range"])


def test_out_of_order_backfill_ends_in_the_same_state(in_order: dict, shuffled: dict) -> None:
    assert not _differences(in_order["final"], shuffled["backfilled"])


def test_rerunning_a_day_changes_nothing(in_order: dict, shuffled: dict) -> None:
    assert not _differences(in_order["final"], shuffled["rerun_day"])


def test_reconciliation_holds_for_every_source_and_day(landing: Path, in_order: dict) -> None:
    manifest = json.loads((landing / "_manifest.json").read_text())
    recon = _read(
        in_order["settings"], "select * replace (landing_date::varchar as landing_date) from marts.reconciliation"
    )
    assert recon["is_balanced"].all(), recon[~recon["is_balanced"]]
    expected = {(s, d): sum(files.values()) for s, days in manifest["files"].items() for d, files in days.items()}
    got = {(r.source, r.landing_date): int(r.landing_rows) for r in recon.itertuples()}
    assert got == expected
    assert (recon["clean_rows"] > 0).any() and (recon["quarantined_rows"] > 0).any()


def test_quarantine_matches_the_defect_manifest(landing: Path, in_order: dict) -> None:
    manifest = json.loads((landing / "_manifest.json").read_text())
    quarantine = _read(
        in_order["settings"],
        """
        select source, file, line,
               case when reason like 'unparseable:%' then 'unparseable' else reason end as reason
        from marts.quarantine""",
    )
    defects = manifest["defects"]
    quarantine_kinds = [k for k, e in defects.items() if e["class"] == "quarantine"]
    assert set(REASONS) == set(quarantine_kinds)

    # Every injected quarantine defect and every duplicate copy is quarantined, and
    # nothing else: the repairable defects (formats, case, separators, stale
    # versions) were all repaired.
    by_source = quarantine.groupby("source").size().to_dict()
    for source in manifest["files"]:
        expected = sum(defects[k]["by_source"].get(source, 0) for k in (*quarantine_kinds, *DUPLICATES))
        assert by_source.get(source, 0) == expected, source
    allowed = {"duplicate_row"} | {r for v in REASONS.values() for r in (v.values() if isinstance(v, dict) else [v])}
    assert set(quarantine["reason"]) <= allowed

    # Row by row: each quarantine-class defect sits in the quarantine with its reason
    # (copies in re-sent files may carry the same defect under the copy's name).
    truth = pd.read_csv(landing / "_truth" / "defects.csv", dtype=str, keep_default_na=False)
    truth = truth[truth["class"] == "quarantine"]
    assert len(truth) == sum(defects[k]["count"] for k in quarantine_kinds) > 0
    found = {(r.source, r.file, int(r.line)): r.reason for r in quarantine.itertuples()}
    for row in truth.itertuples():
        reason = REASONS[row.kind]
        reason = reason[row.source] if isinstance(reason, dict) else reason
        key = (row.source, f"{row.source}/{row.date}/{row.file}", int(row.line))
        assert found.get(key) == reason, (row.kind, key, found.get(key))


def test_guest_orders_count_and_are_attributed_by_exact_email(landing: Path, in_order: dict) -> None:
    """Every planted guest checkout is a clean order in the facts and in daily sales; it
    belongs to the CRM customer with exactly its cleaned e-mail (a typo or another
    address is no match here), else to no one; its lines are no orphans."""
    manifest = json.loads((landing / "_manifest.json").read_text())
    planted = pd.DataFrame([t for t in manifest["identity_truth"] if t["source"] == "orders"])
    assert len(planted) >= 10 and planted["kind"].nunique() >= 3
    settings = in_order["settings"]
    facts = _read(
        settings,
        """
        select o.order_id, o.customer_id, o.is_guest_checkout, o.order_amount, i.email,
               (select min(c.customer_id) from intermediate.int_customers__latest c where c.email = i.email) as by_email
        from marts.fct_orders o join intermediate.int_orders i using (order_id)""",
    ).set_index("order_id")
    guests = facts.loc[planted["source_record_id"]]
    assert guests["is_guest_checkout"].all()
    assert (guests["customer_id"].fillna("-") == guests["by_email"].fillna("-")).all()
    exact = planted["kind"].isin(["guest_order:exact_email", "guest_order:email_case"]).to_numpy()
    assert (guests["customer_id"].to_numpy()[exact] == planted["person"].to_numpy()[exact]).mean() > 0.8
    assert pd.isna(guests["customer_id"].to_numpy()[~exact]).all()
    orphans = _read(
        settings,
        "select count(*) as n from intermediate.int_order_items__validated where _dq_reason = 'orphan_order' "
        f"and order_id in ({', '.join(repr(o) for o in guests.index)})",
    )
    assert int(orphans["n"].iloc[0]) == 0
    sales = _read(
        settings,
        """
        select (select sum(revenue) from marts.fct_daily_sales where series = 'total') as daily,
               (select sum(order_amount - returned_amount) from marts.fct_orders where status <> 'cancelled') as facts""",
    )
    assert sales["daily"].iloc[0] == pytest.approx(sales["facts"].iloc[0], abs=0.01 * len(facts))
    assert guests["order_amount"].sum() > 0


def test_the_purchase_rule_is_one_column_the_customer_measures_count(built_warehouse) -> None:
    """fct_orders.is_purchase is the purchase rule; dim_customers' recency and frequency
    count exactly those orders (cancelled orders and credit notes move neither)."""
    con = duckdb.connect(str(built_warehouse.warehouse), read_only=True)
    try:
        kinds = con.execute(
            "select count(*) filter (where status = 'cancelled'), count(*) filter (where not is_purchase), "
            "count(*) filter (where is_purchase) from marts.fct_orders"
        ).fetchone()
        wrong = con.execute("""
            select count(*) from marts.dim_customers as customers
            left join (
                select customer_id, count(*) as purchases, max(ordered_at) as last_purchase_at
                from marts.fct_orders where is_purchase group by customer_id
            ) as bought using (customer_id)
            where customers.frequency <> coalesce(bought.purchases, 0)
                or customers.last_order_at is distinct from bought.last_purchase_at""").fetchone()[0]
    finally:
        con.close()
    assert kinds[0] > 0 and kinds[2] > 0, kinds  # the data has cancelled orders and purchases
    assert kinds[1] >= kinds[0]
    assert wrong == 0

""" "Foreign shops": landing zones with the shapes real exports have, built from UCI days.

Two shops, one bulk `make run` each, every source carrying a different trait, so
few Airflow runs cover many traits:

- ``eu1999``: four weeks of UCI moved to 1999, 1 customer in 2 kept. Orders as typed
  Parquet (integer customer ids, timestamp column), order lines as a semicolon CSV
  with decimal commas and CRLF line ends, customers as Latin-1 (with a city column of
  accented names), products as UTF-16 with decimal-comma prices. Nothing at all
  arrives for nine days in the middle; products stop ten days before the orders; the
  range starts three days before the first delivery and ends two days after the last.
- ``us2031``: four weeks moved to 2031, US date order (MM/DD/YYYY, CX_DATE_ORDER=MDY),
  only orders and order lines (no CRM, no catalog), column names in other cases and
  with spaces, extra columns, optional columns missing.

Each shop's run must succeed as Airflow records it, publish what its sources allow,
reconcile every delivered row, and parse every value as the shop meant it.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from foreign_shops import Shop, ShopSpec, SourceShape, build_shop

from conftest import (
    Pipeline,
    assert_as_of,
    assert_reconciled,
    assert_run_succeeded,
    pipeline_env,
    published_counts,
    reconciliation,
    uci_src,
)

pytestmark = pytest.mark.e2e

EU = ShopSpec(
    name="eu1999",
    uci_from=date(2011, 3, 1),
    uci_to=date(2011, 3, 28),
    first_day=date(1999, 3, 1),
    customer_share=2,
    gaps=((date(1999, 3, 9), date(1999, 3, 17)),),
    sources={
        "orders": SourceShape(fmt="parquet"),
        "order_items": SourceShape(sep=";", decimal_comma=True, line_end="\r\n"),
        "customers": SourceShape(encoding="latin-1", time_format="%d.%m.%Y %H:%M"),
        "products": SourceShape(encoding="utf-16", sep=";", decimal_comma=True, last_day=date(1999, 3, 18)),
    },
)
EU_FROM, EU_TO = EU.first_day - timedelta(days=3), date(1999, 3, 30)

US = ShopSpec(
    name="us2031",
    uci_from=date(2011, 5, 3),
    uci_to=date(2011, 5, 31),
    first_day=date(2031, 5, 3),
    customer_share=2,
    date_order="MDY",
    sources={
        "orders": SourceShape(
            time_format="%m/%d/%Y %H:%M",
            drop=("channel", "currency"),
            rename={"order_id": "Order_ID", "ordered_at": " Ordered_At ", "customer_id": "CUSTOMER_ID"},
            extra=("coupon_code", "sales_rep"),
        ),
        "order_items": SourceShape(rename={"quantity": "Quantity ", "unit_price": "UNIT_PRICE"}, extra=("line_note",)),
    },
)
US_LAST = date(2031, 5, 31)

# Tables an orders-only shop can fill; with a catalog, dim_products too.
FROM_ORDERS = (
    "dim_customers",
    "fct_orders",
    "customer_segments",
    "customer_recommendations",
    "sales_forecast",
    "model_runs",
    "dq_results",
)


def _run_shop(tmp_path_factory, spec: ShopSpec, ranges: list[tuple[date, date]]) -> tuple[Shop, Pipeline, list]:
    root = tmp_path_factory.mktemp(spec.name)
    shop = build_shop(spec, uci_src(), root / "landing", import_to=max(EU.uci_to, US.uci_to))
    extra = {"CX_DATE_ORDER": spec.date_order} if spec.date_order != "DMY" else {}
    p = Pipeline(root, pipeline_env(root, **extra))
    runs = [p.make_run(start, end) for start, end in ranges]
    return shop, p, runs


@pytest.fixture(scope="module")
def eu(tmp_path_factory):
    return _run_shop(tmp_path_factory, EU, [(EU_FROM, EU_TO)])


@pytest.fixture(scope="module")
def us(tmp_path_factory):
    return _run_shop(tmp_path_factory, US, [(US.first_day, US_LAST)])


def _expected_landing(shop: Shop) -> dict[tuple[str, date], int]:
    return {(source, day): n for source in shop.frames for day, n in shop.rows_per_day(source).items()}


def _revenue(items: pd.DataFrame) -> float:
    return float((items["quantity"].astype(float) * items["unit_price"].astype(float)).sum())


# --- eu1999 -------------------------------------------------------------------------------


def test_eu_builder_wrote_the_traits(eu) -> None:
    shop, p, _ = eu
    landing = shop.root
    assert {f.suffix for f in landing.glob("orders/*/*")} == {".parquet"}
    sample = next(landing.glob("order_items/*/*.csv")).read_bytes()
    assert b";" in sample.splitlines()[0] and b"\r\n" in sample
    assert next(landing.glob("products/*/*.csv")).read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    latin = b"".join(f.read_bytes() for f in landing.glob("customers/*/*.csv"))
    assert "ü".encode("latin-1") in latin and "ü".encode() not in latin
    gap = [d for days in shop.days.values() for d in days if date(1999, 3, 9) <= d <= date(1999, 3, 17)]
    assert not gap
    assert max(shop.days["products"]) <= date(1999, 3, 18) < max(shop.days["orders"])


def test_eu_run_succeeds(eu) -> None:
    _, _, runs = eu
    assert_run_succeeded(runs[0])


def test_eu_publishes_and_reconciles(eu) -> None:
    shop, p, runs = eu
    assert_run_succeeded(runs[0])
    counts = published_counts(p, EU_TO)
    empty = {t: n for t, n in counts.items() if t in (*FROM_ORDERS, "dim_products") and n <= 0}
    assert not empty, f"published tables empty or missing: {empty} (all: {counts})"
    assert_reconciled(reconciliation(p), _expected_landing(shop))
    assert_as_of(p, EU_TO, ("dim_customers", "dim_products", "fct_orders"))


def test_eu_values_parsed_as_the_shop_meant(eu) -> None:
    shop, p, runs = eu
    assert_run_succeeded(runs[0])
    # Nothing rejected as unparseable, badly encoded or mis-typed: the only quarantined rows
    # are the data's own defects (duplicates, zero prices...).
    reasons = set(p.query("select distinct reason from main.quarantine")["reason"])
    assert not {r for r in reasons if r.startswith(("unparseable", "unreadable", "invalid"))}, reasons
    # Parquet timestamps and integer customer ids: the orders published as delivered.
    orders = shop.frames["orders"]
    # Orders of customers the CRM delivered, and guest checkouts, which count in sales (a
    # customer first seen during the gap never reached the CRM: their orders are orphans,
    # quarantined with that reason).
    known = orders["customer_id"].isin(shop.frames["customers"]["customer_id"])
    guest = orders["customer_id"] == ""
    assert guest.any()
    clean = orders[known | guest]
    orphans = set(orders.loc[~known & ~guest, "order_id"])
    quarantined = p.query(
        "select raw::json->>'order_id' as order_id, reason from main.quarantine where source = 'orders'"
    )
    assert orphans <= set(quarantined.loc[quarantined["reason"] == "orphan_customer", "order_id"])
    got = p.query(
        "select order_id, customer_id, strftime(ordered_at, '%Y-%m-%d %H:%M:%S') as ordered_at from main.fct_orders"
    )
    merged = clean.merge(got, on="order_id", how="left", suffixes=("", "_got"))
    assert merged["ordered_at_got"].notna().all(), "orders missing from fct_orders"
    assert (merged["ordered_at_got"] == merged["ordered_at"]).all()
    # Decimal commas: the published amounts equal the sums of the clean lines as written.
    items = shop.frames["order_items"]
    clean_items = items[items["order_id"].isin(clean["order_id"])]
    clean_items = clean_items[clean_items["unit_price"].astype(float) > 0].drop_duplicates(
        ["day", "order_id", "product_id", "quantity", "unit_price"]
    )
    # The catalog stops early: lines of products it never delivered are quarantined as
    # unknown_product (docs/parsing.md), not summed.
    catalogued = clean_items["product_id"].isin(shop.frames["products"]["product_id"])
    unknown = p.scalar(
        "select count(*) from main.quarantine where source = 'order_items' and reason = 'unknown_product'"
    )
    assert unknown >= int((~catalogued).sum()) > 0
    clean_items = clean_items[catalogued]
    published = p.scalar("select sum(order_amount) - sum(returned_amount) from main.fct_orders")
    assert published == pytest.approx(_revenue(clean_items), abs=0.01 * len(clean))
    # UTF-16 names and decimal-comma prices; Latin-1 cities.
    products = shop.frames["products"].sort_values("day").drop_duplicates("product_id", keep="last")
    dim = p.query("select product_id, name, price from main.dim_products")
    merged = products.merge(dim, on="product_id", how="left", suffixes=("", "_got"))
    assert (merged["name_got"].fillna("") == merged["name"].str.strip()).all()  # trimmed; empty is NULL
    priced = merged[merged["price"] != ""]
    wrong = priced[(priced["price_got"] - priced["price"].astype(float)).abs() > 1e-9]
    assert wrong.empty, (
        f"{len(wrong)} prices differ from the file's:\n{wrong[['product_id', 'price', 'price_got']].head()}"
    )
    cities = set(p.query("select distinct city from landing.customers where city is not null")["city"])
    assert {"München", "Zürich"} & cities or {"Orléans", "Cádiz", "Évora"} & cities, cities


def test_eu_empty_days_and_stale_products_are_reported(eu) -> None:
    shop, p, runs = eu
    assert_run_succeeded(runs[0])
    fresh = p.query("select * from main.source_freshness where as_of_date = ?", [EU_TO])
    assert not fresh.empty
    status = dict(zip(fresh["source"], fresh["status"], strict=True))
    # Products stopped twelve days before the range's end (orders two days before it).
    assert status["products"] == "stale" and status["orders"] != "absent", status
    assert status["web_events"] == "absent", status


# --- us2031 -------------------------------------------------------------------------------


def test_us_run_succeeds(us) -> None:
    _, _, runs = us
    assert_run_succeeded(runs[0])


def test_us_publishes_what_orders_allow_and_reconciles(us) -> None:
    shop, p, runs = us
    assert_run_succeeded(runs[0])
    counts = published_counts(p, US_LAST)
    empty = {t: n for t, n in counts.items() if t in FROM_ORDERS and n <= 0}
    assert not empty, f"published tables empty or missing: {empty} (all: {counts})"
    assert_reconciled(reconciliation(p), _expected_landing(shop))
    assert_as_of(p, US_LAST, ("dim_customers", "fct_orders"))


def test_us_dates_are_month_first(us) -> None:
    shop, p, runs = us
    assert_run_succeeded(runs[0])
    orders = shop.frames["orders"]
    got = p.query("select order_id, strftime(ordered_at, '%Y-%m-%d %H:%M') as ordered_at from main.fct_orders")
    merged = orders.merge(got, on="order_id", suffixes=("", "_got"))
    assert len(merged) >= 0.9 * (orders["customer_id"] != "").sum()
    assert (merged["ordered_at_got"] == merged["ordered_at"].str[:16]).all()
    reasons = set(p.query("select distinct reason from main.quarantine")["reason"])
    assert "unparseable_timestamp" not in reasons, reasons


def test_us_columns_matched_whatever_their_case(us) -> None:
    shop, p, runs = us
    assert_run_succeeded(runs[0])
    # Renamed required columns found: no row lacks a key it carries.
    missing = p.scalar(
        "select count(*) from main.quarantine where reason = 'missing_required_key' and source = 'order_items'"
    )
    assert missing == 0
    items = shop.frames["order_items"]
    # Guest orders (no customer id) count in sales like the others (contract, issue 27).
    valid = items[items["order_id"].isin(shop.frames["orders"]["order_id"])]
    valid = valid[valid["unit_price"].astype(float) > 0].drop_duplicates(
        ["day", "order_id", "product_id", "quantity", "unit_price"]
    )
    published = p.scalar("select sum(order_amount) - sum(returned_amount) from main.fct_orders")
    assert published == pytest.approx(_revenue(valid), abs=0.01 * len(shop.frames["orders"]))

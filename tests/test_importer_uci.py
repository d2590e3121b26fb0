"""UCI Online Retail importer: landing layout, faithful mapping, history, idempotence.

Runs on the first four real days (2010-12-01, -02, -03, -05; about 10,000 lines, a
few seconds). The data lives outside the repository, in ../shared/data; when that
folder is absent every test fails with a message saying so (never a skip).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cx.contract import LANDING_SOURCES
from cx.importers import uci
from cx.ingest import discover, ingest_range

# Reads and imports real UCI days: seconds, not a unit (make test, not make test-fast).
pytestmark = pytest.mark.slow

SRC = uci.DEFAULT_SRC.resolve()
START, END = date(2010, 12, 1), date(2010, 12, 5)
DAYS = ("2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05")  # no trading on Saturdays
SOURCES = ("customers", "products", "orders", "order_items")


@pytest.fixture(autouse=True, scope="module")
def _uci_data_present() -> None:
    # Absent data is a failure, not a skip: CI has ../shared/data beside the clone.
    if not SRC.is_dir():
        pytest.fail(
            f"UCI by-day data not found at {SRC}: put ../shared/data beside the clone "
            "(see ../shared/data/README.md) or set CX_UCI_DIR to the by-day folder",
            pytrace=False,
        )


def _csv(path: Path) -> pd.DataFrame:
    # Everything as text and empty fields as '', so the test sees exactly what was written.
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    frames = [_csv(SRC / f"{day}.csv").assign(day=day) for day in DAYS]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("uci_landing")
    summary = uci.import_uci(SRC, out, START, END)
    return out, summary


def _read(out: Path, source_name: str) -> pd.DataFrame:
    frames = [_csv(p).assign(day=p.parent.name) for p in sorted((out / source_name).glob("*/uci.csv"))]
    return pd.concat(frames, ignore_index=True)


def test_layout_and_contract_columns(landing: tuple[Path, dict]) -> None:
    out, _ = landing
    assert sorted(p.name for p in out.iterdir()) == sorted(SOURCES)
    for name in SOURCES:
        day_dirs = sorted(p.name for p in (out / name).iterdir())
        assert day_dirs == list(DAYS), name
        spec = LANDING_SOURCES[name]
        for day in DAYS:
            files = list((out / name / day).iterdir())
            assert [f.name for f in files] == ["uci.csv"]
            frame = _csv(files[0])
            assert len(frame) > 0
            assert set(spec.required) <= set(frame.columns), (name, day)
            assert set(frame.columns) <= set(spec.columns), (name, day)
            # Only the guest checkout's customer_id may be empty among required keys.
            for col in set(spec.required) - {"customer_id"} if name == "orders" else spec.required:
                assert (frame[col] != "").all(), (name, day, col)
    # The pipeline's own reader finds every file, dated by its folder.
    found = discover(out, START, END)
    assert len(found) == len(SOURCES) * len(DAYS)
    assert {(f.source, f.landing_date.isoformat()) for f in found} == {(s, d) for s in SOURCES for d in DAYS}


def test_pipeline_ingest_reads_every_row(landing: tuple[Path, dict]) -> None:
    out, summary = landing
    con = duckdb.connect()
    ingested = ingest_range(con, out, START, END, SOURCES)
    assert {s: v["rows"] for s, v in ingested.items()} == summary["rows"]
    assert all(v["rejected"] == 0 for v in ingested.values())


def test_order_items_are_the_source_lines(landing: tuple[Path, dict], source: pd.DataFrame) -> None:
    out, summary = landing
    items = _read(out, "order_items")
    assert len(items) == len(source) == summary["rows"]["order_items"] == summary["source_lines"]
    assert list(items.columns) == ["order_id", "product_id", "quantity", "unit_price", "day"]
    # Same lines in the same order, values as written (StockCode trimmed and upper-cased).
    expected = pd.DataFrame(
        {
            "order_id": source["InvoiceNo"],
            "product_id": source["StockCode"].str.strip().str.upper(),
            "quantity": source["Quantity"],
            "unit_price": source["UnitPrice"],
            "day": source["day"],
        }
    )
    pd.testing.assert_frame_equal(items, expected)
    # Exact duplicate lines are kept for the pipeline to remove and count.
    assert source.duplicated().sum() > 0
    assert items.duplicated().sum() == source.duplicated().sum()


def test_orders_one_per_invoice_with_status(landing: tuple[Path, dict], source: pd.DataFrame) -> None:
    out, summary = landing
    orders = _read(out, "orders")
    assert orders["order_id"].is_unique
    assert set(orders["order_id"]) == set(source["InvoiceNo"])
    assert summary["invoices"] == len(orders) == summary["rows"]["orders"]

    cancelled = orders["order_id"].str.startswith("C")
    assert cancelled.sum() == summary["cancellations"] > 0
    assert (orders.loc[cancelled, "status"] == "returned").all()
    assert (orders.loc[~cancelled, "status"] == "delivered").all()
    assert set(orders["channel"]) == {"web"} and set(orders["currency"]) == {"GBP"}
    # Cancellations are credit notes: their lines carry the negative quantities.
    returned_lines = source[source["InvoiceNo"].str.startswith("C")]
    assert (returned_lines["Quantity"].astype(int) < 0).all()

    first = source.drop_duplicates("InvoiceNo").set_index("InvoiceNo")
    by_id = orders.set_index("order_id")
    assert (by_id["ordered_at"] == first.loc[by_id.index, "InvoiceDate"]).all()
    assert (by_id["day"] == first.loc[by_id.index, "day"]).all()


def test_customer_ids_lose_float_suffix_and_guests_stay_empty(landing: tuple[Path, dict], source: pd.DataFrame) -> None:
    out, summary = landing
    orders = _read(out, "orders").set_index("order_id")
    first = source.drop_duplicates("InvoiceNo").set_index("InvoiceNo").loc[orders.index]

    assert first["CustomerID"].str.endswith(".0").any()
    identified = first["CustomerID"] != ""
    assert (
        orders.loc[identified.to_numpy(), "customer_id"]
        == first.loc[identified, "CustomerID"].str.removesuffix(".0").to_numpy()
    ).all()
    assert orders["customer_id"].str.fullmatch(r"\d*").all()

    guests = orders["customer_id"] == ""
    assert guests.sum() == (~identified).sum() > 0
    assert summary["guest_lines"] == (source["CustomerID"] == "").sum()

    customers = _read(out, "customers")
    assert customers["customer_id"].str.fullmatch(r"\d+").all()
    assert customers["customer_id"].is_unique  # no Country changes within these days
    assert (customers["updated_at"] == customers["day"]).all()
    assert (customers["signup_date"] == "").all()
    assert set(customers["customer_id"]) == set(source.loc[source["CustomerID"] != "", "CustomerID"].str[:-2])
    assert summary["customers"] == len(customers)
    # Each customer is delivered on the day it is first seen, with that line's Country.
    seen = source[source["CustomerID"] != ""].drop_duplicates("CustomerID")
    expected = dict(zip(seen["CustomerID"].str[:-2], zip(seen["day"], seen["Country"], strict=True), strict=True))
    assert {r.customer_id: (r.day, r.country) for r in customers.itertuples()} == expected


def test_products_first_seen_and_on_description_change(landing: tuple[Path, dict], source: pd.DataFrame) -> None:
    out, summary = landing
    products = _read(out, "products")
    lines = source.assign(product_id=source["StockCode"].str.strip().str.upper())
    first_day = lines.groupby("product_id")["day"].min()
    assert summary["products"] == len(first_day)

    by_code = {code: g.sort_values("day") for code, g in products.groupby("product_id")}
    assert set(by_code) == set(first_day.index)
    assert all(g["day"].iloc[0] == first_day[code] for code, g in by_code.items())
    assert (products["updated_at"] == products["day"]).all()
    assert products["category"].isin([*uci.CATEGORY_KEYWORDS, uci.DEFAULT_CATEGORY]).all()

    # Re-delivered only with a new non-empty name.
    redelivered = {code: g for code, g in by_code.items() if len(g) > 1}
    assert redelivered, "expected description changes within the first days"
    for code, g in redelivered.items():
        names = g["name"].tolist()
        assert all(b != "" and b != a for a, b in zip(names, names[1:], strict=False)), (code, names)
    hand_warmer = by_code["22632"]
    assert hand_warmer["day"].tolist()[:2] == ["2010-12-01", "2010-12-02"]
    assert hand_warmer["name"].tolist()[:2] == ["HAND WARMER RED RETROSPOT", "HAND WARMER RED POLKA DOT"]

    # A day that only repeats the last delivered description delivers nothing.
    delivered = dict(zip(zip(products["product_id"], products["day"], strict=True), products["name"], strict=True))
    day_names = lines[lines["Description"] != ""].groupby(["product_id", "day"])["Description"].agg(frozenset)
    last_name: dict[str, str] = {}
    for (code, day), names in day_names.sort_index().items():
        if code in last_name and names == {last_name[code]}:
            assert (code, day) not in delivered, (code, day)
        if delivered.get((code, day)):
            last_name[code] = delivered[(code, day)]

    # price = median positive UnitPrice of the code that day, empty when there is none.
    prices = lines.assign(p=lines["UnitPrice"].astype(float))
    median = prices[prices["p"] > 0].groupby(["product_id", "day"])["p"].median().round(4)
    got = products.set_index(["product_id", "day"])["price"]
    expected = median.reindex(got.index)
    assert (got == "").equals(expected.isna())
    assert got[got != ""].astype(float).to_numpy() == pytest.approx(expected.dropna().to_numpy())


def test_category_from_last_item_word() -> None:
    words = dict(uci.keyword_rows())
    assert words["T-LIGHT"] == "candles_lighting" and "HOLDER" not in words and "LIGHT" not in words
    assert words["BOXES"] == words["BOX"] == "storage"
    assert words["DOILIES"] == "kitchen_dining"
    assert words["POSTAGE"] == words["CHARGES"] == "service"


def test_idempotent_and_independent_of_range(landing: tuple[Path, dict], tmp_path: Path) -> None:
    out, summary = landing
    before = _tree(out)
    assert uci.import_uci(SRC, out, START, END) == summary
    assert _tree(out) == before

    # A stale file on a day without a source file is removed, so re-runs converge;
    # files that are not ours stay.
    stale = out / "customers" / "2010-12-04" / "uci.csv"
    stale.parent.mkdir()
    stale.write_text("customer_id,updated_at\nx,2010-12-04\n")
    foreign = stale.with_name("crm.csv")
    foreign.write_text("customer_id,updated_at\ny,2010-12-04\n")
    uci.import_uci(SRC, out, START, END)
    assert not stale.exists() and foreign.exists()
    foreign.unlink()
    stale.parent.rmdir()
    assert _tree(out) == before

    # Days imported on their own get the same files: "new" and "changed" use all history.
    partial = tmp_path / "partial"
    uci.import_uci(SRC, partial, date(2010, 12, 3), END)
    assert _tree(partial) == {k: v for k, v in before.items() if k.split("/")[1] in ("2010-12-03", "2010-12-05")}


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "landing"
    rc = uci.main(["--src", str(SRC), "--out", str(out), "--from", "2010-12-01", "--to", "2010-12-01"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["days"] == 1 and summary["first_day"] == summary["last_day"] == "2010-12-01"
    assert (out / "orders" / "2010-12-01" / "uci.csv").is_file()

    assert uci.main(["--src", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert uci.main(["--src", str(SRC), "--out", str(out), "--from", "2010-12-05", "--to", "2010-12-01"]) == 2


def test_day_with_nothing_new_writes_no_customer_or_product_file(tmp_path: Path) -> None:
    # The same day delivered twice: day two has orders but no new customer or product.
    src = tmp_path / "by-day"
    src.mkdir()
    for day in ("2010-12-01", "2010-12-02"):
        (src / f"{day}.csv").write_bytes((SRC / "2010-12-01.csv").read_bytes())
    out = tmp_path / "landing"
    (out / "products" / "2010-12-02").mkdir(parents=True)
    (out / "products" / "2010-12-02" / "uci.csv").write_text("product_id,updated_at\nx,2010-12-02\n")
    summary = uci.import_uci(src, out)
    one_day = len(_csv(SRC / "2010-12-01.csv"))
    assert summary["rows"]["order_items"] == 2 * one_day
    assert summary["rows"]["orders"] == 2 * summary["invoices"]  # same invoices, once per day
    assert (out / "orders" / "2010-12-02" / "uci.csv").is_file()
    assert (out / "order_items" / "2010-12-02" / "uci.csv").is_file()
    assert not (out / "customers" / "2010-12-02").exists()
    assert not (out / "products" / "2010-12-02" / "uci.csv").exists()  # stale file removed

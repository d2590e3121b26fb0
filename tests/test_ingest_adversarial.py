"""Adversarial landing zones: damaged files, links out of the zone, broken quoting, stray
files and foreign export shapes. Each file is read or listed with a reason; a bad
file never stops the day; only broken records are rejected."""

from __future__ import annotations

import gzip
import os
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cx.ingest import ingest_range

DAY = date(2024, 1, 1)
D = DAY.isoformat()


def _write(root: Path, source: str, name: str, data: bytes, day: str = D) -> Path:
    folder = root / source / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _deliveries(con) -> dict[str, tuple]:
    rows = con.execute(
        "select _file, status, reason, detail, rows_parsed, rows_rejected, rows_unread from landing.deliveries"
    ).fetchall()
    return {r[0].rsplit("/", 1)[-1]: r[1:] for r in rows}


def _parquet_bytes(table: pa.Table, tmp_path: Path, **kwargs) -> bytes:
    path = tmp_path / "tmp.parquet"
    pq.write_table(table, path, **kwargs)
    data = path.read_bytes()
    path.unlink()
    return data


def test_unreadable_files_do_not_stop_the_day(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    _write(root, "orders", "good.csv", b"order_id,customer_id,ordered_at\no1,c1,2024-01-01\n")
    _write(root, "orders", "junk.csv", bytes(range(256)) * 40)
    _write(root, "orders", "empty.csv", b"")
    _write(root, "orders", "header_only.csv", b"order_id,customer_id,ordered_at\r\n")
    _write(
        root,
        "orders",
        "mixed_breaks.csv",
        b"order_id,customer_id,ordered_at\r\no2,c1,2024-01-01\r\no3,c2,2024-01-01\no4,c3,2024-01-01\r\n",
    )
    _write(root, "orders", "empty.parquet", b"")
    table = pa.table(
        {
            "order_id": [f"o{i}" for i in range(100, 400)],
            "customer_id": ["c1"] * 300,
            "ordered_at": ["2024-01-01"] * 300,
        }
    )
    data = bytearray(_parquet_bytes(table, tmp_path, compression="snappy"))
    data[4:400] = b"\xff" * 396  # damaged data pages, footer intact
    _write(root, "orders", "corrupt.parquet", bytes(data))
    _write(root, "reviews", "junk.jsonl", b"\x00\x01\x02PK\x03\x04" * 100)
    summary = ingest_range(con, root, DAY, DAY, ("orders", "reviews"))

    orders = sorted(r[0] for r in con.execute("select order_id from landing.orders").fetchall())
    assert orders == ["o1", "o2", "o3", "o4"]
    got = _deliveries(con)
    for name in ("junk.csv", "empty.parquet", "corrupt.parquet", "junk.jsonl"):
        status, reason, detail, parsed, rejected, _ = got[name]
        assert (status, reason, parsed, rejected) == ("unreadable", "unreadable_file", 0, 0), name
        assert detail and detail.isprintable() and detail.isascii() and "PK" not in detail
    assert got["corrupt.parquet"][5] == 300  # rows the footer still counts
    assert got["junk.csv"][5] is None  # not countable
    for name, rows in (("empty.csv", 0), ("header_only.csv", 0), ("mixed_breaks.csv", 3), ("good.csv", 1)):
        assert got[name][:2] == ("loaded", None) and got[name][3:5] == (rows, 0), name
    assert summary["orders"] == {"files": 7, "rows": 4, "rejected": 0, "unreadable": 3, "ignored": 0}
    # Records only: a file is never counted as a rejected row.
    assert con.execute("select count(*) from landing.parse_rejects").fetchone()[0] == 0


def test_links_out_of_the_landing_zone_are_listed_never_read(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "passwd.csv"
    secret.write_text("customer_id,updated_at\nroot:x:0:0,2024-01-01\n")
    (outside / "2024-01-02").mkdir()
    (outside / "2024-01-02" / "c.csv").write_text("customer_id,updated_at\nlinked_day,2024-01-02\n")
    good = _write(root, "customers", "crm.csv", b"customer_id,updated_at\nc1,2024-01-01\n")
    folder = good.parent
    (folder / "passwd.csv").symlink_to(secret)
    (folder / "etc.csv").symlink_to("/etc/passwd")
    (folder / "dangling.csv").symlink_to(tmp_path / "nothing.csv")
    (folder / "inside.csv").symlink_to(good)  # a link that stays inside the zone is a file of the zone
    (root / "customers" / "2024-01-02").symlink_to(outside / "2024-01-02", target_is_directory=True)
    os.mkfifo(folder / "pipe.csv")  # would block a reader forever
    summary = ingest_range(con, root, DAY, date(2024, 1, 2), ("customers",))

    ids = sorted(r[0] for r in con.execute("select customer_id from landing.customers").fetchall())
    assert ids == ["c1", "c1"]
    everything = con.execute("select string_agg(_raw, ' ') from landing.customers").fetchone()[0]
    assert "root:" not in everything and "linked_day" not in everything
    got = con.execute("select _file, status, reason, detail from landing.deliveries order by _file").fetchall()
    assert [(f, s, r) for f, s, r, _ in got] == [
        ("customers/2024-01-01/crm.csv", "loaded", None),
        ("customers/2024-01-01/dangling.csv", "ignored", "not_a_regular_file"),
        ("customers/2024-01-01/etc.csv", "ignored", "outside_landing_root"),
        ("customers/2024-01-01/inside.csv", "loaded", None),
        ("customers/2024-01-01/passwd.csv", "ignored", "outside_landing_root"),
        ("customers/2024-01-01/pipe.csv", "ignored", "not_a_regular_file"),
        ("customers/2024-01-02", "ignored", "outside_landing_root"),
    ]
    assert not any(str(outside) in (d or "") or "/etc" in (d or "") for *_, d in got)  # the target is never named
    assert summary["customers"]["ignored"] == 5


def test_an_unterminated_quote_rejects_only_its_record(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    _write(
        root,
        "reviews",
        "r.csv",
        (
            b"review_id,created_at,title,body\r\n"
            b'r1,2024-01-01,"Nice, really","said ""wow""\r\ntwo lines"\r\n'
            b'r2,2024-01-01,"Broken,oops\r\n'
            b"r3,2024-01-01,plain,text\r\n"
            b'r4,2024-01-01,"multi","a\r\nb\r\nc"\r\n'
            b'r5,2024-01-01,5" screen,fine\r\n'
            b'r6,2024-01-01,last,"never closed\r\n'
            b"r7,2024-01-01,after,all\r\n"
            b'r8,2024-01-01,"carriage\rreturn",quoted\r\n'
            b"r9,2024-01-01,stray\rreturn,unquoted\r\n"
        ),
    )
    summary = ingest_range(con, root, DAY, DAY, ("reviews",))
    rows = con.execute("select review_id, title, body, _line from landing.reviews order by _line").fetchall()
    assert rows == [
        ("r1", "Nice, really", 'said "wow"\r\ntwo lines', 2),
        ("r3", "plain", "text", 4),
        ("r4", "multi", "a\r\nb\r\nc", 5),
        ("r5", '5" screen', "fine", 6),
        ("r7", "after", "all", 8),
        ("r8", "carriage\rreturn", "quoted", 9),
    ]
    rejects = con.execute("select _line, reason, raw from landing.parse_rejects order by _line").fetchall()
    assert [(line, reason) for line, reason, _ in rejects] == [
        (3, "unparseable: malformed_quote"),
        (7, "unparseable: malformed_quote"),  # r6's quote closes into r8
        (10, "unparseable: stray_line_break"),
    ]
    assert rejects[0][2] == 'r2,2024-01-01,"Broken,oops'
    assert summary["reviews"]["rows"] == 6 and summary["reviews"]["rejected"] == 3


def test_a_quote_left_open_to_the_end_of_the_file_loses_no_record(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    _write(
        root,
        "reviews",
        "r.csv",
        b'review_id,created_at,title\r\nr1,2024-01-01,"x, y"\r\nr2,2024-01-01,"broken\r\nr3,2024-01-01,plain\r\n',
    )
    ingest_range(con, root, DAY, DAY, ("reviews",))
    rows = con.execute("select review_id, title, _line from landing.reviews order by _line").fetchall()
    assert rows == [("r1", "x, y", 2), ("r3", "plain", 4)]
    rejects = con.execute("select _line, reason from landing.parse_rejects").fetchall()
    assert rejects == [(3, "unparseable: unterminated_quote")]


def test_every_file_is_read_or_listed_with_a_reason(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    header = "order_id\tcustomer_id\tordered_at\n"
    _write(root, "orders", "a.tsv", (header + "t1\tc1\t2024-01-01\n").encode())
    _write(root, "orders", "b.txt", b"order_id;customer_id;ordered_at\nx1;c1;2024-01-01\n")
    _write(root, "orders", "c.csv.gz", gzip.compress(b"order_id,customer_id,ordered_at\ng1,c1,2024-01-01\n"))
    _write(root, "orders", "d.jsonl.gz", gzip.compress(b'{"order_id": "j1", "customer_id": "c1", "ordered_at": "x"}\n'))
    _write(root, "orders", "e.xlsx", b"PK\x03\x04")
    _write(root, "orders", ".part_upload.csv", b"order_id\nz\n")
    _write(root, "orders", "f.csv.gz", b"\x1f\x8bnot really gzip")
    (root / "orders" / D / "nested").mkdir()
    (root / "orders" / D / "nested" / "n.csv").write_text("order_id\nn1\n")
    _write(root, "orders", "m.csv", b"order_id\nm1\n", day="2024-1-1")
    _write(root, "exports", "o.csv", b"order_id\nq1\n")
    (root / "README.txt").write_text("hello")
    summary = ingest_range(con, root, DAY, DAY)

    ids = sorted(r[0] for r in con.execute("select order_id from landing.orders").fetchall())
    assert ids == ["g1", "j1", "t1", "x1"]
    got = _deliveries(con)
    assert {n: (s, r) for n, (s, r, *_) in got.items()} == {
        "a.tsv": ("loaded", None),
        "b.txt": ("loaded", None),
        "c.csv.gz": ("loaded", None),
        "d.jsonl.gz": ("loaded", None),
        "e.xlsx": ("ignored", "unsupported_format"),
        ".part_upload.csv": ("ignored", "hidden_file"),
        "f.csv.gz": ("unreadable", "unreadable_file"),
        "nested": ("ignored", "nested_folder"),
    }
    ignored = con.execute("select source, path, reason, files from landing.ignored_paths order by path").fetchall()
    assert ignored == [
        (None, "README.txt", "outside_contract", 1),
        (None, "exports", "outside_contract", 1),
        ("orders", "orders/2024-1-1", "misnamed_day_folder", 1),
    ]
    assert summary["orders"] == {"files": 5, "rows": 4, "rejected": 0, "unreadable": 1, "ignored": 4}
    assert summary["landing_zone"]["ignored"] == 2
    assert sum(v["rows"] for v in summary.values()) == 4  # consumers summing the entries still can


def test_foreign_export_shapes_load_their_values(tmp_path: Path, con) -> None:
    root = tmp_path / "landing"
    _write(
        root,
        "products",
        "semicolon.csv",
        "product_id;Name;price;updated_at\r\np1;Käse;1.234,50;01.01.2024\r\np2;Brot;2,99;01.01.2024\r\n".encode(
            "cp1252"
        ),
    )
    _write(root, "products", "excel.csv", b"sep=;\r\nproduct_id;name;price;updated_at\r\np9;Glas;1,50;2024-01-01\r\n")
    _write(root, "products", "euro.csv", "product_id,name,price,updated_at\np3,Tasse,€5,2024-01-01\n".encode("cp1252"))
    _write(root, "products", "utf16.csv", "product_id\tname\tupdated_at\np4\tÜmlaut\t2024-01-01\n".encode("utf-16-le"))
    _write(root, "products", "utf16be.csv", "product_id,name,updated_at\np5,Œuvre,2024-01-01\n".encode("utf-16-be"))
    _write(root, "products", "bom.csv", "\ufeff PRODUCT_ID ,Name,updated_at\np6,Crème,2024-01-01\n".encode("utf-8"))
    _write(
        root,
        "products",
        "mixed.csv",
        "product_id,name,updated_at\np7,Crème,2024-01-01\n".encode() + "p8,Crème,2024-01-01\n".encode("cp1252"),
    )
    import decimal

    table = pa.table(
        {
            "Product_ID": pa.array([1, 2], pa.int64()),
            "name": ["Typed", "Nested"],
            "price": pa.array([decimal.Decimal("12.50"), decimal.Decimal("3.00")], pa.decimal128(10, 2)),
            "brand": pa.array([True, False]),
            "category": pa.array([None, {"a": "x"}], pa.struct([("a", pa.string())])),
            "updated_at": pa.array([1704103200_000000, 1704103200_000000], pa.timestamp("us", tz="Europe/Berlin")),
            "description": pa.array([date(2024, 1, 1), None], pa.date32()),
        }
    )
    _write(root, "products", "typed.parquet", _parquet_bytes(table, tmp_path))
    _write(
        root,
        "customers",
        "c.jsonl",
        b'{"customer_id": "c1", "email": {"x": "a@b.c"}, "updated_at": "2024-01-01"}\n'
        b'{"customer_id": "c2", "email": "c@d.e", "updated_at": "2024-01-01", "extra": {"deep": [1]}}\n'
        b'{"customer_id": "c3", "first_name": ["A", "B"], "updated_at": "2024-01-01"}\n',
    )
    _write(
        root,
        "customers",
        "array.json",
        b'[\n {"customer_id": "c4", "updated_at": "2024-01-01"},\n {"customer_id": "c5", "updated_at": "2024-01-01"}\n]\n',
    )
    _write(root, "customers", "broken_array.json", b'[{"customer_id": "c6"')
    con.execute("set TimeZone = 'America/New_York'")  # never changes a value
    ingest_range(con, root, DAY, DAY, ("products", "customers"))

    rows = con.execute(
        "select product_id, name, price, brand, category, description, updated_at "
        "from landing.products order by product_id"
    ).fetchall()
    assert rows == [
        ("1", "Typed", "12.50", "true", None, "2024-01-01", "2024-01-01 10:00:00"),
        ("p1", "Käse", "1.234,50", None, None, None, "01.01.2024"),
        ("p2", "Brot", "2,99", None, None, None, "01.01.2024"),
        ("p3", "Tasse", "€5", None, None, None, "2024-01-01"),
        ("p4", "Ümlaut", None, None, None, None, "2024-01-01"),
        ("p5", "Œuvre", None, None, None, None, "2024-01-01"),
        ("p6", "Crème", None, None, None, None, "2024-01-01"),
        ("p7", "Crème", None, None, None, None, "2024-01-01"),
        ("p8", "Crème", None, None, None, None, "2024-01-01"),
        ("p9", "Glas", "1,50", None, None, None, "2024-01-01"),
    ]
    got = {
        r[0].rsplit("/", 1)[-1]: r[1:]
        for r in con.execute("select _file, encoding, delimiter from landing.deliveries").fetchall()
    }
    assert got["semicolon.csv"] == ("windows-1252", ";")
    assert got["utf16.csv"] == ("utf-16-le", "\t")
    assert got["excel.csv"] == ("utf-8", ";")
    rejects = con.execute(
        "select _file, _line, reason, detail from landing.parse_rejects order by _file, _line"
    ).fetchall()
    assert [(f.rsplit("/", 1)[-1], line, reason) for f, line, reason, _ in rejects] == [
        ("c.jsonl", 1, "unparseable: nested_value"),
        ("c.jsonl", 3, "unparseable: nested_value"),
        ("typed.parquet", 2, "unparseable: nested_value"),
    ]
    assert "email" in rejects[0][3] and "first_name" in rejects[1][3] and "category" in rejects[2][3]
    assert con.execute("select customer_id, email, _line from landing.customers order by 1").fetchall() == [
        ("c2", "c@d.e", 2),
        ("c4", None, 1),
        ("c5", None, 2),
    ]
    assert got["broken_array.json"] == (None, None)
    assert _deliveries(con)["broken_array.json"][:2] == ("unreadable", "unreadable_file")


def test_every_reason_the_ingest_gives_passes_the_quarantine_check() -> None:
    import json
    import re

    from cx.ingest.rejects import UNPARSEABLE_PREFIX, UNREADABLE_FILE, RecordReason

    suite = json.loads((Path(__file__).parents[1] / "include/gx/expectations/quarantine.json").read_text())
    (check,) = [e for e in suite["expectations"] if e["meta"]["check"] == "reason_known"]
    pattern = re.compile(check["kwargs"]["regex"])
    codes = [v for k, v in vars(RecordReason).items() if k.isupper()]
    assert codes and all(pattern.match(UNPARSEABLE_PREFIX + code) for code in codes)
    assert pattern.match(UNREADABLE_FILE)

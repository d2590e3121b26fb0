"""Landing files -> landing schema: every row parsed or rejected with a reason, whatever
the file's encoding, delimiter, column order or damage; re-ingesting replaces."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from cx.ingest import ingest_range

DAY = date(2024, 1, 1)


def _write(root: Path, source: str, name: str, data: bytes) -> None:
    folder = root / source / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_latin1_semicolon_file_is_read_not_rejected(tmp_path: Path, con) -> None:
    _write(
        tmp_path,
        "customers",
        "crm.csv",
        "Customer_ID;EMAIL;first_name;Country;updated_at\nc1;a@x.de;Jürgen;DE;2024-01-01\n"
        "c2;b@x.fr;Renée;FR;2024-01-01\n".encode("latin-1"),
    )
    summary = ingest_range(con, tmp_path, DAY, DAY, ("customers",))
    assert summary["customers"] == {"files": 1, "rows": 2, "rejected": 0, "unreadable": 0, "ignored": 0}
    rows = con.execute(
        "select customer_id, first_name, email, city, _line from landing.customers order by 1"
    ).fetchall()
    assert rows == [("c1", "Jürgen", "a@x.de", None, 2), ("c2", "Renée", "b@x.fr", None, 3)]


def test_utf16_file_with_byte_order_mark(tmp_path: Path, con) -> None:
    _write(tmp_path, "products", "p.csv", "product_id,name,updated_at\np1,Crème brûlée,2024-01-01\n".encode("utf-16"))
    ingest_range(con, tmp_path, DAY, DAY, ("products",))
    assert con.execute("select product_id, name from landing.products").fetchall() == [("p1", "Crème brûlée")]


def test_damaged_rows_and_files_are_rejected_with_reasons(tmp_path: Path, con) -> None:
    _write(
        tmp_path,
        "orders",
        "orders.csv",
        b"order_id,customer_id,ordered_at\no1,c1,2024-01-01 10:00\no2,c2,2024-01-01 11:00,extra\n"
        b"o3,c1,2024-01-01 12:00\n",
    )
    _write(tmp_path, "orders", "broken.parquet", b"not parquet at all")
    _write(tmp_path, "reviews", "r.jsonl", b'{"review_id": "r1", "created_at": "2024-01-01"}\nnot json\n')
    summary = ingest_range(con, tmp_path, DAY, DAY, ("orders", "reviews"))
    assert summary["orders"] == {"files": 2, "rows": 2, "rejected": 1, "unreadable": 1, "ignored": 0}
    assert summary["reviews"] == {"files": 1, "rows": 1, "rejected": 1, "unreadable": 0, "ignored": 0}
    rejects = con.execute(
        "select _file, _line, reason, raw from landing.parse_rejects order by _file, _line"
    ).fetchall()
    assert [(f, line, reason) for f, line, reason, _ in rejects] == [
        ("orders/2024-01-01/orders.csv", 3, "unparseable: too_many_columns"),
        ("reviews/2024-01-01/r.jsonl", 2, "unparseable: not_a_json_object"),
    ]
    assert rejects[0][3] == "o2,c2,2024-01-01 11:00,extra"
    lines = con.execute("select order_id, _line from landing.orders order by 1").fetchall()
    assert lines == [("o1", 2), ("o3", 4)]  # lineage points at the file's lines
    deliveries = con.execute(
        "select _file, status, reason, rows_parsed, rows_rejected from landing.deliveries order by _file"
    ).fetchall()
    assert deliveries == [
        ("orders/2024-01-01/broken.parquet", "unreadable", "unreadable_file", 0, 0),
        ("orders/2024-01-01/orders.csv", "loaded", None, 2, 1),
        ("reviews/2024-01-01/r.jsonl", "loaded", None, 1, 1),
    ]


def test_reingest_replaces_the_day(tmp_path: Path, con) -> None:
    _write(tmp_path, "orders", "orders.csv", b"order_id,customer_id,ordered_at\no1,c1,2024-01-01\no2,c1,2024-01-01\n")
    ingest_range(con, tmp_path, DAY, DAY, ("orders",))
    _write(tmp_path, "orders", "orders.csv", b"order_id,customer_id,ordered_at\no1,c1,2024-01-01\n")
    ingest_range(con, tmp_path, DAY, DAY, ("orders",))
    assert con.execute("select order_id from landing.orders").fetchall() == [("o1",)]
    assert con.execute("select count(*) from landing.deliveries").fetchone()[0] == 1


def test_jsonl_keys_by_name_missing_keys_null(tmp_path: Path, con) -> None:
    _write(
        tmp_path,
        "web_events",
        "e.jsonl",
        b'{"Event_ID": "e1", "occurred_at": "2024-01-01T10:00:00Z", "event_type": "view", "device": " ios "}\n'
        b'{"event_id": "e2", "occurred_at": 1704103200, "event_type": "add_to_cart", "extra": {"a": 1}}\n',
    )
    ingest_range(con, tmp_path, DAY, DAY, ("web_events",))
    rows = con.execute(
        "select event_id, occurred_at, event_type, device, session_id, _line from landing.web_events order by _line"
    ).fetchall()
    assert rows == [
        ("e1", "2024-01-01T10:00:00Z", "view", "ios", None, 1),
        ("e2", "1704103200", "add_to_cart", None, None, 2),
    ]


def test_days_parsed_side_by_side_load_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    import cx.ingest.load

    for offset in range(5):
        day = DAY + timedelta(days=offset)
        folder = tmp_path / "orders" / day.isoformat()
        folder.mkdir(parents=True)
        lines = [f"o{offset}-{i},c{i},{day} 10:00" for i in range(offset + 2)] + ["bad,row,with,extra"]
        (folder / "orders.csv").write_text("order_id,customer_id,ordered_at\n" + "\n".join(lines) + "\n")
    states = []
    for workers in (1, 2):
        monkeypatch.setattr(cx.ingest.load, "PARALLEL_DAYS", workers)
        con = duckdb.connect()
        con.execute("set threads = 2")
        summary = ingest_range(con, tmp_path, DAY, DAY + timedelta(days=4), ("orders",))
        rows = con.execute("select * from landing.orders order by _landing_date, _line").fetchall()
        rejects = con.execute("select * from landing.parse_rejects order by _landing_date").fetchall()
        states.append((summary, rows, rejects))
        con.close()
    assert states[0] == states[1]
    assert states[0][0]["orders"] == {"files": 5, "rows": 20, "rejected": 5, "unreadable": 0, "ignored": 0}


def test_warehouse_of_an_older_contract_gains_the_identity_columns(tmp_path: Path, con) -> None:
    """A landing table created before the identity columns existed gets them in place; a
    file without them (an older export) loads with NULLs, a guest order (no customer_id)
    and a file that has them load their values."""
    con.execute("create schema landing")
    con.execute(
        "create table landing.orders (order_id varchar, customer_id varchar, ordered_at varchar, status varchar, "
        "channel varchar, currency varchar, _landing_date date, _file varchar, _line bigint, _raw varchar)"
    )
    con.execute("insert into landing.orders (order_id, _landing_date) values ('o0', date '2023-12-31')")
    _write(tmp_path, "orders", "old.csv", b"order_id,customer_id,ordered_at\no1,c1,2024-01-01 10:00\n")
    _write(tmp_path, "orders", "new.csv", b"order_id,customer_id,email,ordered_at\no2,, Ann@X.de ,2024-01-01 11:00\n")
    _write(tmp_path, "reviews", "r.csv", b"review_id,created_at\nr1,2024-01-01 12:00\n")
    summary = ingest_range(con, tmp_path, DAY, DAY, ("orders", "reviews"))
    assert summary["orders"]["rows"] == 2 and summary["orders"]["rejected"] == 0
    rows = con.execute("select order_id, customer_id, email from landing.orders order by 1").fetchall()
    assert rows == [("o0", None, None), ("o1", "c1", None), ("o2", None, "Ann@X.de")]
    assert con.execute("select email, reviewer_name from landing.reviews").fetchall() == [(None, None)]

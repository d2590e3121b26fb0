"""cx.warehouse.read_large_df: the same frame as read_df, streamed, ids as categoricals."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from cx.warehouse import read_df, read_large_df

ROWS = [
    ("c1", "p1", "purchase", 5),
    ("c2", None, "view", None),
    ("c1", "p2", "view", 3),
    ("c3", "p1", "purchase", 1),
    ("c2", "p3", "rating", 4),
]


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table t (customer_id varchar, product_id varchar, kind varchar, rating integer)")
    con.executemany("insert into t values (?, ?, ?, ?)", ROWS)
    return con


def test_batches_smaller_than_the_result_give_the_same_values(con: duckdb.DuckDBPyConnection) -> None:
    sql = "select * from t where rating is null or rating > ? order by customer_id, kind"
    con.execute("select count(*) from t").fetchone()  # a result left open on the connection
    got = read_large_df(con, sql, [1], categorical=("customer_id", "product_id", "kind"), batch_rows=2)
    want = read_df(con, sql, [1])
    assert all(isinstance(got[c].dtype, pd.CategoricalDtype) for c in ("customer_id", "product_id", "kind"))
    assert len(got) == 4
    for column in want:
        assert (
            got[column].astype(object).where(got[column].notna(), None).tolist()
            == want[column].astype(object).where(want[column].notna(), None).tolist()
        )


def test_empty_result_keeps_the_columns(con: duckdb.DuckDBPyConnection) -> None:
    got = read_large_df(con, "select * from t where rating > 10", categorical=("customer_id",))
    assert got.empty and list(got.columns) == ["customer_id", "product_id", "kind", "rating"]
    assert isinstance(got["customer_id"].dtype, pd.CategoricalDtype)

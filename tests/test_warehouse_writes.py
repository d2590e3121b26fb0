"""cx.warehouse's write helpers: one transaction per write, rolled back whole on an error
or a kill, and a registered frame never left behind."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from cx.warehouse import registered, replace_partition, transaction

DAY = date(2024, 3, 1)


def _rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select x from t order by x").fetchall()


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_transaction_rolls_back_on_an_error_or_a_kill(error: type[BaseException]) -> None:
    con = duckdb.connect()
    con.execute("create table t (x integer)")
    with transaction(con):
        con.execute("insert into t values (1)")
    with pytest.raises(error), transaction(con):
        con.execute("delete from t")
        con.execute("insert into t values (2)")
        raise error()
    assert _rows(con) == [(1,)]
    with transaction(con):  # the connection is usable again: no transaction left open
        con.execute("insert into t values (3)")
    assert _rows(con) == [(1,), (3,)]


def test_registered_frame_is_gone_after_the_block_even_when_it_raises() -> None:
    con = duckdb.connect()
    with pytest.raises(RuntimeError), registered(con, "_frame", pd.DataFrame({"x": [1, 2]})):
        assert con.execute("select sum(x) from _frame").fetchall() == [(3,)]
        raise RuntimeError("stop")
    with pytest.raises(duckdb.CatalogException):
        con.execute("select * from _frame")


def test_replace_partition_keeps_the_old_day_when_the_write_fails() -> None:
    con = duckdb.connect()
    assert replace_partition(con, "t", pd.DataFrame({"x": [1, 2]}), DAY) == 2
    with pytest.raises(duckdb.Error):  # a column the table does not have
        replace_partition(con, "t", pd.DataFrame({"y": [5]}), DAY)
    assert _rows(con) == [(1,), (2,)]
    assert replace_partition(con, "t", pd.DataFrame({"x": [7]}), DAY) == 1
    assert _rows(con) == [(7,)]

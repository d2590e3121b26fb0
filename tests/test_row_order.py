"""The canonical row order the model stages read their inputs in (cx.row_order)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from cx.row_order import order_by_sql, sort_rows


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical(rng.choice(["c2", "c10", "c1", None], n)),
            "occurred_at": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 3, n), unit="D"),
            "rating": np.where(rng.random(n) < 0.3, np.nan, rng.integers(-2, 3, n) * 1.0),
            "kind": rng.choice(["view", "purchase", None], n),
        }
    )


def test_any_row_order_gives_the_same_frame() -> None:
    frame = _frame()
    expected = sort_rows(frame, ("customer_id",))
    for seed in range(4):
        shuffled = frame.sample(frac=1.0, random_state=seed)
        # A categorical whose categories arrive in another order sorts the same way.
        shuffled["customer_id"] = shuffled["customer_id"].cat.reorder_categories(["c2", "c1", "c10"])
        pd.testing.assert_frame_equal(sort_rows(shuffled, ("customer_id",)), expected)
    assert list(expected["customer_id"].cat.categories) == ["c1", "c10", "c2"]  # by code point, as DuckDB
    keys = expected[["customer_id", "occurred_at"]].astype({"customer_id": "object"})
    assert expected["customer_id"].isna().to_numpy()[-1]  # missing last
    assert keys.dropna().apply(tuple, axis=1).is_monotonic_increasing


def test_duckdb_order_by_is_the_canonical_order() -> None:
    frame = _frame(seed=1).astype({"customer_id": "object"})
    con = duckdb.connect()
    con.register("f", frame.sample(frac=1.0, random_state=3))
    columns = ["customer_id", "occurred_at", "rating", "kind"]
    read = con.execute(f"select * from f {order_by_sql(columns)}").df()
    expected = sort_rows(frame, ("customer_id",))
    # DuckDB's ORDER BY ... NULLS LAST is the canonical order itself.
    for column in columns:
        assert (
            read[column].astype("object").where(read[column].notna(), None).tolist()
            == expected[column].astype("object").where(expected[column].notna(), None).tolist()
        ), column


def test_table_hashes_see_rows_not_their_order() -> None:
    from cx.warehouse import table_hashes

    con = duckdb.connect()
    con.execute(
        "create schema marts; create table marts.t as select range as i, range * 0.5::double as x from range(100)"
    )
    con.execute("create view main.v as select * from marts.t")
    first = table_hashes(con)
    con.execute("create or replace table marts.t as select * from marts.t order by i desc")
    assert table_hashes(con) == first and set(first) == {"main.v", "marts.t"}
    con.execute("update marts.t set x = x + 1e-12 where i = 7")  # one row's last bits
    changed = table_hashes(con)
    assert changed["marts.t"] != first["marts.t"] and changed["main.v"] != first["main.v"]

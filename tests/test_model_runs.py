"""model_runs: typed from the first write, one copy per model and day."""

from __future__ import annotations

from datetime import date

import duckdb

from cx.model_runs import Metric, write_model_runs


def test_first_write_without_details_keeps_types_and_reruns_replace() -> None:
    con = duckdb.connect()
    day = date(2024, 1, 1)
    write_model_runs(con, "a", "v1", [Metric("p@10", 0.2, 0.1, True)], day)
    write_model_runs(con, "b", "v1", [Metric("mase", 1.1, details={"folds": 3})], day)
    write_model_runs(con, "a", "v1", [Metric("p@10", 0.3, 0.1, True)], day)  # re-run of the day
    rows = con.execute("select model, value, details from model_outputs.model_runs order by model").fetchall()
    assert rows == [("a", 0.3, None), ("b", 1.1, '{"folds": 3}')]
    types = dict(con.execute("select column_name, data_type from duckdb_columns() "
                             "where table_name = 'model_runs'").fetchall())
    assert types["details"] == "VARCHAR" and types["passed"] == "BOOLEAN"

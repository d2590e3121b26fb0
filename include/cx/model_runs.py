"""The ``model_runs`` table: one row per model x metric x as_of_date.

Every model stage reports its evaluation here, next to the baseline it must beat,
so users can see each day whether a model earned its place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from cx.warehouse import replace_partition

# Where the model stages write their outputs (partitioned by as_of_date, with history):
# not `main`, which users read; publish copies the run's partitions into `main` in the
# same transaction as the dimensions, so `main` never shows a day half published.
OUTPUT_SCHEMA = "model_outputs"

COLUMNS = ["model", "metric", "value", "baseline_value", "passed", "model_version", "details"]
# Declared up front: a first write whose details are all empty would otherwise give
# the column DuckDB's NULL type and break every later insert.
DDL = (
    "model varchar, metric varchar, value double, baseline_value double, passed boolean, "
    "model_version varchar, details varchar, as_of_date date"
)


@dataclass(frozen=True)
class Metric:
    metric: str
    value: float | None
    baseline_value: float | None = None
    passed: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


def metrics_frame(model: str, model_version: str, metrics: list[Metric]) -> pd.DataFrame:
    rows = [
        {
            "model": model,
            "metric": m.metric,
            "value": None if m.value is None else float(m.value),
            "baseline_value": None if m.baseline_value is None else float(m.baseline_value),
            "passed": m.passed,
            "model_version": model_version,
            "details": json.dumps(m.details, sort_keys=True, default=str) if m.details else None,
        }
        for m in metrics
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"value": "float64", "baseline_value": "float64", "passed": "boolean", "details": "object"})


def write_model_runs(
    con: duckdb.DuckDBPyConnection,
    model: str,
    model_version: str,
    metrics: list[Metric],
    as_of_date: date,
) -> int:
    """Replace this model's rows for the day (other models' rows stay)."""
    return write_runs(con, model, [(model_version, metrics)], as_of_date)


def write_runs(
    con: duckdb.DuckDBPyConnection,
    model: str,
    runs: Sequence[tuple[str, Sequence[Metric]]],
    as_of_date: date,
) -> int:
    """:func:`write_model_runs` for a model whose rows carry several versions (one
    forecast per series, each published by its own model): (model_version, metrics) pairs."""
    con.execute(
        f"create schema if not exists {OUTPUT_SCHEMA}; create table if not exists {OUTPUT_SCHEMA}.model_runs ({DDL})"
    )
    frames = [metrics_frame(model, version, list(metrics)) for version, metrics in runs]
    frame = pd.concat(frames, ignore_index=True) if frames else metrics_frame(model, "", [])
    return replace_partition(
        con, "model_runs", frame.drop(columns=["model"]), as_of_date, schema=OUTPUT_SCHEMA, scope={"model": model}
    )

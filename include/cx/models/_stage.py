"""One skeleton for the model stages: inputs -> pure function -> the day's partitions
and ``model_runs`` -> summary.

A stage supplies how it reads its inputs and what it computes from them; the skeleton
owns the rest, the same for every stage: the reads and the writes each in a short
``cx.warehouse.connect()`` block (the writer lock is never held while a model fits),
every output replaced as the day's partition in ``model_runs``' schema (idempotent:
a re-run leaves one copy of the day), the model's ``model_runs`` rows for the day, and
the summary the task returns and logs. A stage with nothing to do raises
:class:`cx.errors.NothingToDo` from ``read`` or ``compute``: the task is skipped with
that reason, not reported as a success that wrote nothing.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from cx.config import Settings
from cx.errors import NothingToDo
from cx.model_runs import OUTPUT_SCHEMA, Metric, write_runs
from cx.warehouse import connect, replace_partition

log = logging.getLogger(__name__)

Inputs = TypeVar("Inputs")
Config = TypeVar("Config")


def config_from_settings(cls: type[Config], settings: Settings, fields: Mapping[str, str], **overrides: Any) -> Config:
    """A stage's configuration: each of ``fields`` (config field -> the Settings attribute
    it mirrors) read from ``settings``, then ``overrides``; the rest keep their defaults."""
    return cls(**{**{field: getattr(settings, name) for field, name in fields.items()}, **overrides})


@dataclass(frozen=True)
class StageOutput:
    """What a stage publishes for its day, and what it says about it."""

    partitions: dict[str, pd.DataFrame]  # table in OUTPUT_SCHEMA -> the day's rows, written in this order
    runs: Sequence[tuple[str, Sequence[Metric]]]  # model_runs: (model_version, metrics) pairs
    summary: dict[str, Any] = field(default_factory=dict)  # the task's summary (rows written, versions, ...)


def keep_artifact(path: Path, contents: Mapping[str, Any]) -> None:
    """The day's fitted model and what it was fitted with (configuration, metrics), pickled
    beside the warehouse for later inspection: the published tables hold only its outputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(dict(contents), handle)


def run_stage(
    model: str,
    as_of: date,
    settings: Settings,
    read: Callable[[duckdb.DuckDBPyConnection], Inputs],
    compute: Callable[[Inputs], StageOutput],
    prepare: Callable[[duckdb.DuckDBPyConnection, StageOutput], None] | None = None,
) -> dict[str, Any]:
    """Run one model stage for ``as_of``: ``read`` on a short connection, ``compute``
    without one, then ``prepare`` (schema changes an older table needs) and the writes
    on another. Returns the stage's summary with the seconds it took."""
    started = time.monotonic()
    try:
        with connect(settings) as con:
            inputs = read(con)
        output = compute(inputs)
    except NothingToDo as nothing:
        log.info("%s skipped: %s", model, nothing.reason)
        raise
    with connect(settings) as con:
        if prepare is not None:
            prepare(con, output)
        for table, frame in output.partitions.items():
            replace_partition(con, table, frame, as_of, schema=OUTPUT_SCHEMA)
        write_runs(con, model, output.runs, as_of)
    summary = {**output.summary, "seconds": round(time.monotonic() - started, 1)}
    log.info("%s: %s", model, summary)
    return summary

"""One short, read-only look at the warehouse for the page.

DuckDB lets one process write a file, and a writer cannot open it while any other
process has it open, even read-only. So the page takes the pipeline's own writer
lock (``cx.warehouse.warehouse_lock``) for the few milliseconds of its queries:
a task that wants to write then waits on that lock, as it does for any other task,
instead of failing on DuckDB's. When a task holds the lock the page says "busy,
retry" at once rather than making the user wait for a model to train.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import duckdb
import pandas as pd

from cx.config import Settings
from cx.ui import queries
from cx.warehouse import warehouse_lock

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class UiConfig:
    # How long a page view waits for a writer to release the warehouse before
    # answering "busy": short, since a writing task can hold it for minutes.
    lock_wait_s: float = 1.0
    segment_days: int = 30
    as_of_choices: int = 60


@dataclass
class Overview:
    """Everything the page shows about one as-of day (small frames only)."""

    as_of: date | None
    days: list[date]
    stages: pd.DataFrame = field(default_factory=pd.DataFrame)
    published: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    dq: pd.DataFrame = field(default_factory=pd.DataFrame)
    dq_failed: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    forecasts: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class Unavailable:
    """Why the warehouse could not be read now; ``retry`` when it is only busy."""

    message: str
    retry: bool


class _Busy(Exception):
    pass


def _is_lock_conflict(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def read_overview(settings: Settings, as_of: date | None = None, cfg: UiConfig = UiConfig()) -> Overview | Unavailable:
    """Read the page's aggregates for ``as_of`` (default: the newest run day)."""
    return read_warehouse(settings, lambda con: _collect(con, as_of, cfg), cfg)


def read_warehouse(settings: Settings, collect: Callable[[duckdb.DuckDBPyConnection], T],
                   cfg: UiConfig = UiConfig()) -> T | Unavailable:
    """``collect(con)`` on a read-only connection held for the call, or why it could not run."""
    path = settings.warehouse
    if not path.is_file():
        return Unavailable(f"No warehouse at {path} yet: run the pipeline first.", retry=False)
    try:
        with warehouse_lock(path, timeout_s=cfg.lock_wait_s):
            try:
                con = duckdb.connect(str(path), read_only=True)
            except duckdb.Error as error:
                if _is_lock_conflict(error):  # a writer outside the pipeline's lock (a user's CLI)
                    raise _Busy from error
                raise
            try:
                return collect(con)
            finally:
                con.close()
    except (TimeoutError, _Busy):
        return Unavailable("The warehouse is busy: a pipeline task is writing to it. Retry in a minute.", retry=True)
    except OSError as error:  # the lock file cannot be created (read-only volume): say so
        log.warning("customer experience page: cannot read %s: %s", path, error)
        return Unavailable(f"The warehouse cannot be opened: {error}", retry=False)
    except duckdb.Error as error:
        log.warning("customer experience page: cannot read %s: %s", path, type(error).__name__)
        return Unavailable(f"The warehouse cannot be read: {error}", retry=False)


def _collect(con: duckdb.DuckDBPyConnection, as_of: date | None, cfg: UiConfig) -> Overview:
    days = queries.as_of_dates(con, limit=cfg.as_of_choices)
    day = as_of or (days[0] if days else None)
    overview = Overview(as_of=day, days=days, stages=queries.stage_status(con))
    if day is None:
        return overview
    parts: dict[str, Any] = {
        "published": queries.published_counts(con, day),
        "quarantine": queries.quarantine_summary(con, day),
        "dq": queries.dq_summary(con, day),
        "dq_failed": queries.dq_failures(con, day),
        "metrics": queries.model_metrics(con, day),
        "forecasts": queries.forecast_series(con, day),
        "segments": queries.segment_sizes(con, day, cfg.segment_days),
    }
    for name, frame in parts.items():
        setattr(overview, name, frame)
    return overview

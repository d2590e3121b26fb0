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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from cx.config import Settings
from cx.warehouse import warehouse_lock

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class UiConfig:
    # How long a page view waits for a writer to release the warehouse before
    # answering "busy": short, since a writing task can hold it for minutes.
    lock_wait_s: float = 1.0
    as_of_choices: int = 60


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


def read_warehouse(
    settings: Settings, collect: Callable[[duckdb.DuckDBPyConnection], T], cfg: UiConfig = UiConfig()
) -> T | Unavailable:
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

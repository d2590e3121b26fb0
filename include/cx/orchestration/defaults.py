"""What every task of the DAG shares: retries, time limits, the failure callback, the
writer pool, and how the pipeline's own exceptions become Airflow task states."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from cx.alerts import CxFailureNotifier
from cx.errors import DeterministicError, NothingToDo
from cx.runner.verdict import SKIP_REASON_KEY

log = logging.getLogger(__name__)

# Airflow pool with one slot for the long warehouse writers (ingest, dbt build,
# validation, publish): DuckDB allows one writer, so queueing them in Airflow keeps
# worker slots free instead of waiting on the lock. Created by `make airflow-init` /
# the compose init service. Short writers (freshness, model outputs) only take the
# lock (cx.warehouse.connect), and dbt takes it through bin/dbt-locked.
DUCKDB_POOL = "cx_duckdb"

# Time limits: a task stuck past them fails (and is retried) instead of holding its
# run, its pool slot and the writer lock for ever. Generous: see docs/scaling.md for
# what a stage costs on a year of data.
STAGE_TIMEOUT = timedelta(hours=2)  # every task unless it says otherwise
QUICK_TIMEOUT = timedelta(minutes=15)  # listing files, reading run metadata
WAIT_TIMEOUT = timedelta(hours=12)  # wait_for_earlier_days: a backfill's earlier days


def default_args() -> dict[str, Any]:
    return {
        "owner": "cx-data",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": STAGE_TIMEOUT,
        # Called once a task has failed for good (after its retries).
        "on_failure_callback": [log_failure, CxFailureNotifier()],
    }


F = TypeVar("F", bound=Callable[..., Any])


def map_errors(func: F) -> F:
    """A task callable whose outcomes Airflow shows as they are:

    - cx.errors.DeterministicError (a critical data-quality gate, bad configuration)
      fails the task at once: retrying cannot change it;
    - cx.errors.NothingToDo (no texts, no sales yet) skips the task, with its reason in
      the task's log and in an XCom (``skip_reason``) that `cx run` prints;
    - other errors (a lock timeout, a lost worker) keep the retries.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DeterministicError as error:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(error).__name__}: {error}") from error
        except NothingToDo as nothing:
            from airflow.sdk import get_current_context
            from airflow.sdk.exceptions import AirflowSkipException

            log.info("nothing to do: %s", nothing.reason)
            get_current_context()["ti"].xcom_push(SKIP_REASON_KEY, nothing.reason)
            raise AirflowSkipException(nothing.reason) from nothing

    return wrapper  # type: ignore[return-value]


def log_failure(context: dict[str, Any]) -> None:
    """Log an actionable line when a task fails for good (PII-scrubbed error summary)."""
    from cx.alerts import failure_payload

    p = failure_payload(context)
    log.error(
        "cx task failed: dag=%s task=%s run=%s try=%s: %s: %s",
        p["dag_id"],
        p["task_id"],
        p["run_id"],
        p["try_number"],
        p["error_type"],
        p["error"],
    )

"""Failures the pipeline tells apart: deterministic ones (retrying cannot help) and
the rest (a lock, a lost worker), which Airflow retries.

The pure code raises these and never imports Airflow; the DAG maps
DeterministicError to Airflow's no-retry failure and NothingToDo to its skip
(cx.orchestration.map_errors).
"""

from __future__ import annotations


class DeterministicError(Exception):
    """The same inputs and configuration give the same failure: do not retry."""


class ConfigurationError(DeterministicError, ValueError):
    """A setting is invalid (a ValueError, as settings raised before)."""


class DataQualityError(DeterministicError, RuntimeError):
    """Critical data-quality checks failed; ``failures`` holds their results."""

    def __init__(self, message: str, failures: list | None = None):
        super().__init__(message)
        self.failures = list(failures or [])


class NothingToDo(Exception):
    """A stage has no input for this day (no texts, no sales yet): not a failure.

    The DAG turns it into Airflow's skip, so the grid shows the stage as skipped with
    this reason and publish (trigger rule none_failed) keeps the last published outputs.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# bin/dbt-locked exits with this code (EX_TEMPFAIL) when it timed out waiting for the
# warehouse lock: a transient failure the producer task keeps retrying. (dbt-locked runs
# under any python3 without cx: it repeats the number; tests/test_run_process.py ties them.)
LOCK_TIMEOUT_EXIT = 75
# dbt's exit code for handled errors: failing models, tests, compile errors.
DBT_HANDLED_ERROR_EXIT = 1

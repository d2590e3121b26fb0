"""The validation stage: read the run's partition, validate it with GX, record, gate.

:func:`run` is the Airflow task's entry point, once per stage of a run:

- ``inputs`` (task ``validate``, after dbt, before the model stages): the clean
  staged rows of the run's extraction days, the marts the models read, and
  statistics against the trailing days (volume, rating mix, order amounts);
- ``published`` (task ``validate_published``, after publish): the contract's
  tables as users read them, for the run's as-of day.

Flow: one short ``cx.warehouse.connect()`` block reads every frame as pandas plus
the history baselines, and releases the connection (GX never holds the DuckDB
writer lock). The file-based GX project (``include/gx``, opened read-only) validates
each frame with its suite's validation definition, then renders Data Docs into
``$CX_ARTIFACTS_DIR/data_docs/<as_of_date>/<stage>/``. Every result (passed,
failed, skipped) replaces the stage's rows of ``main.dq_results`` for the as-of
day. Critical failures raise :class:`DataQualityError`; warnings are logged and
returned in the summary.

Modules (private; import from this package): ``_validator`` the GX wrapper,
``_frames`` the frames and parameters, ``_results`` results, ``main.dq_results`` and
the gate, ``_docs_site`` the Data Docs pages, ``_stage`` the task.
"""

from __future__ import annotations

from cx.errors import DataQualityError
from cx.quality.checkpoint._docs_site import docs_dir, share_static_files, write_day_index, write_docs_home
from cx.quality.checkpoint._frames import FRAMES, Frame, RunFrames, load_frames, load_params
from cx.quality.checkpoint._results import (
    RESULT_COLUMNS,
    RESULTS_DDL,
    RESULTS_TABLE,
    STATE_SUITES,
    CheckResult,
    failure_message,
    gate,
    recorded_state_suites,
    results_frame,
    summarize,
    write_results,
)
from cx.quality.checkpoint._stage import run
from cx.quality.checkpoint._validator import Validator, validate_frames

__all__ = [
    "CheckResult",
    "DataQualityError",
    "FRAMES",
    "Frame",
    "RESULTS_DDL",
    "RESULTS_TABLE",
    "RESULT_COLUMNS",
    "RunFrames",
    "STATE_SUITES",
    "Validator",
    "docs_dir",
    "failure_message",
    "gate",
    "load_frames",
    "load_params",
    "recorded_state_suites",
    "results_frame",
    "run",
    "share_static_files",
    "summarize",
    "validate_frames",
    "write_day_index",
    "write_docs_home",
    "write_results",
]

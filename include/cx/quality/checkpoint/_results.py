"""Check results: one line each for a data engineer, ``main.dq_results``, and the gate."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from cx.errors import DataQualityError  # deterministic: the DAG does not retry it
from cx.publish import EMPTY_TABLES
from cx.quality.policy import Severity
from cx.quality.suites import RunParams
from cx.warehouse import registered, table_exists, transaction

log = logging.getLogger(__name__)

RESULTS_TABLE = "dq_results"
RESULTS_DDL = EMPTY_TABLES[RESULTS_TABLE]  # the published table's columns (publish creates it if validation never ran)
RESULT_COLUMNS = ["suite", "expectation", "table", "success", "unexpected_count", "severity", "details"]


@dataclass(frozen=True)
class CheckResult:
    suite: str
    table: str
    expectation: str  # the check's name; its policy id is "<suite>.<name>"
    severity: Severity
    success: bool | None  # None: skipped, see details["skipped"]
    unexpected_count: int | None = None
    element_count: int | None = None
    samples: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.success is False

    def describe(self) -> str:
        """One line a data engineer can act on without opening the code."""
        what = self.details.get("expectation_type", "")
        column = self.details.get("column")
        head = f"{self.table}: {self.suite}.{self.expectation} ({what}{f' on {column}' if column else ''})"
        if "error" in self.details:
            return f"{head} could not run: {self.details['error']}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            sample = "; ".join(_sample_text(s) for s in self.samples) or "-"
            body = f"{self.unexpected_count} bad rows{of}, e.g. {sample}"
        else:
            body = f"observed {_short(self.details.get('observed_value'))}, expected {_bounds(self.details)}"
        return f"{head}: {body} -- {self.details.get('why', '')}".rstrip(" -")


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounds(details: Mapping[str, Any]) -> str:
    kwargs = details.get("kwargs") or {}
    shown = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "threshold", "column_set", "value_set")}
    return _short(shown) if shown else "see Data Docs"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item") and not hasattr(value, "isoformat"):  # numpy scalars
        return _json_safe(value.item())
    if isinstance(value, float):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _sample_text(sample: Any) -> str:
    if isinstance(sample, dict):
        return ", ".join(f"{k}={v!r}" for k, v in sample.items())
    return repr(sample)


def results_frame(results: list[CheckResult]) -> pd.DataFrame:
    rows = [
        {
            "suite": r.suite,
            "expectation": r.expectation,
            "table": r.table,
            "success": r.success,
            "unexpected_count": r.unexpected_count,
            "severity": r.severity,
            "details": json.dumps(_json_safe(r.details), sort_keys=True, default=str),
        }
        for r in results
    ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).astype(
        {"success": "boolean", "unexpected_count": "Int64", "details": "object"}
    )


# Suites over the current-state marts (one row per customer or product, as of the newest
# day ingested), not over the run's partition.
STATE_SUITES = ("dim_customers", "dim_products", "main_dim_customers", "main_dim_products")


def recorded_state_suites(con: Any, params: RunParams, suites: Iterable[str]) -> list[str]:
    """State suites whose results for the run's day are already recorded, when the run
    is an older day re-run after newer days were ingested (a cleared backfill day).

    Their results were recorded when that day was the newest: the state they checked
    is gone, so the re-run keeps them, and a cleared day leaves dq_results as it was.
    """
    if params.state_day <= params.run_to or not table_exists(con, RESULTS_TABLE, "main"):
        return []
    candidates = [s for s in suites if s in STATE_SUITES]
    if not candidates:
        return []
    recorded = con.execute(
        f"select distinct suite from main.{RESULTS_TABLE} where as_of_date = ? and suite in "
        f"({', '.join('?' for _ in candidates)})",
        [params.run_to, *candidates],
    ).fetchall()
    return sorted(r[0] for r in recorded)


def write_results(con: Any, results: list[CheckResult], as_of_date: date, suites: Iterable[str]) -> int:
    """Replace the rows of ``suites`` for ``as_of_date`` in main.dq_results (idempotent)."""
    frame = results_frame(results)
    frame["as_of_date"] = as_of_date
    names = sorted(set(suites))
    con.execute(f"create table if not exists main.{RESULTS_TABLE} ({RESULTS_DDL})")
    with registered(con, "_cx_dq", frame), transaction(con):
        if names:
            con.execute(
                f"delete from main.{RESULTS_TABLE} where as_of_date = ? and suite in ({', '.join('?' for _ in names)})",
                [as_of_date, *names],
            )
        con.execute(f"insert into main.{RESULTS_TABLE} by name select * from _cx_dq")
    return len(frame)


def failure_message(
    failures: list[CheckResult], run_from: date, run_to: date, stage: str = "inputs", docs: Path | None = None
) -> str:
    window = str(run_to) if run_from == run_to else f"{run_from}..{run_to}"
    consequence = "the model stages will not run" if stage == "inputs" else "the published tables are not trustworthy"
    lines = [f"{len(failures)} critical data-quality check(s) failed for run {window} ({stage}); {consequence}:"]
    lines += [f"- {f.describe()}" for f in failures]
    lines.append(
        f"All results: main.dq_results where as_of_date = '{run_to}'" + (f"; Data Docs: {docs}" if docs else "")
    )
    return "\n".join(lines)


def summarize(results: list[CheckResult]) -> dict[str, Any]:
    def count(severity: str, what: str) -> int:
        return sum(
            1
            for r in results
            if r.severity == severity
            and (
                (what == "evaluated" and r.success is not None)
                or (what == "failed" and r.failed)
                or (what == "skipped" and r.success is None)
            )
        )

    return {
        "evaluated": sum(1 for r in results if r.success is not None),
        "failed": sum(1 for r in results if r.failed),
        "skipped": sum(1 for r in results if r.success is None),
        "by_severity": {
            s: {w: count(s, w) for w in ("evaluated", "failed", "skipped")} for s in ("critical", "warning")
        },
    }


def gate(results: list[CheckResult], run_from: date, run_to: date, stage: str, docs: Path | None = None) -> None:
    """Raise DataQualityError when a critical check failed; warnings only log."""
    for r in results:
        if r.failed and r.severity == "warning":
            log.warning("data-quality warning: %s", r.describe())
    failures = [r for r in results if r.failed and r.severity == "critical"]
    if failures:
        raise DataQualityError(failure_message(failures, run_from, run_to, stage, docs), failures)

"""Whether a `dags test` run did its work, from Airflow's record of it (pure).

A run succeeds only when it has task instances, every one finished, none failed,
and every model stage either reports rows written or says why it wrote none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAILED_STATES = frozenset({"failed", "upstream_failed"})
DONE_STATES = frozenset({"success", "skipped"})
MODEL_PREFIX = "models."
# The XCom key under which a stage skipped by cx.errors.NothingToDo leaves its reason.
SKIP_REASON_KEY = "skip_reason"


@dataclass(frozen=True)
class TaskRecord:
    """One task instance of the run: its final state and what it returned (XCom)."""

    task_id: str
    state: str | None
    try_number: int = 1
    returned: Any = None


@dataclass
class Verdict:
    ok: bool
    problems: list[str] = field(default_factory=list)  # one line per failed or unfinished task
    skipped: list[str] = field(default_factory=list)  # "task: reason"


def judge(
    tasks: Iterable[TaskRecord],
    errors: Mapping[str, list[str]] | None = None,
    run_state: str | None = None,
    start_date_hint: str = "",
) -> Verdict:
    """The run's verdict; ``errors`` maps task ids to the error lines of their logs."""
    tasks = sorted(tasks, key=lambda t: t.task_id)
    errors = errors or {}
    if not tasks:
        return Verdict(
            False,
            [
                "no task ran: Airflow created the run without task instances"
                + (f" ({start_date_hint})" if start_date_hint else "")
            ],
        )
    problems: list[str] = []
    skipped: list[str] = []
    # a short-circuit task that returned False skips what follows it (the ML cadence gate)
    deciders = [t.task_id for t in tasks if t.returned is False]
    upstream = f"{', '.join(deciders)} returned False" if deciders else "skipped by an upstream task"
    dbt_models_failed: list[TaskRecord] = []
    upstream_failed: list[str] = []
    for t in tasks:
        state = (t.state or "none").lower()
        if state == "upstream_failed":
            upstream_failed.append(t.task_id)
        elif state == "failed" and t.task_id.startswith("dbt.") and not t.task_id.endswith("producer_watcher"):
            dbt_models_failed.append(t)  # consequences of the build's failure: one line for all
        elif state == "failed":
            why = _first(errors.get(t.task_id)) or "no error line in the log"
            problems.append(f"{t.task_id} failed (try {t.try_number}): {why}")
        elif state not in DONE_STATES:
            problems.append(f"{t.task_id} did not finish (state {state})")
        elif state == "skipped":
            skipped.append(f"{t.task_id}: {skip_reason(t.returned) or _first(errors.get(t.task_id)) or upstream}")
        elif t.task_id.startswith(MODEL_PREFIX):
            silent = silent_model_stage(t.returned, t.task_id)
            if silent:
                problems.append(f"{t.task_id} succeeded but {silent}")
    if dbt_models_failed:
        names = [t.task_id.removeprefix("dbt.") for t in dbt_models_failed]
        why = next((_first(errors.get(t.task_id)) for t in dbt_models_failed if errors.get(t.task_id)), "")
        problems.append(
            f"{len(names)} dbt model task(s) failed or not built: {_names(names)}" + (f": {why}" if why else "")
        )
    if upstream_failed:
        problems.append(f"not run, an upstream task failed: {_names(upstream_failed)}")
    if not problems and not any((t.state or "").lower() == "success" for t in tasks):
        problems.append("no task ran: every task was skipped")
    if not problems and run_state and run_state.lower() != "success":
        problems.append(f"Airflow recorded the run as {run_state}")
    return Verdict(not problems, problems, skipped)


def skip_reason(returned: Any) -> str | None:
    """The reason a stage gave for having nothing to do (cx.errors.NothingToDo), if any."""
    if isinstance(returned, Mapping) and isinstance(returned.get("skipped"), str) and returned["skipped"]:
        return returned["skipped"]
    return None


# Summary keys that count a model stage's output rows: "rows" or "<name>_rows", and
# sentiment's scored texts.
ROW_KEYS = {"models.sentiment": ("reviews", "tickets")}


def silent_model_stage(returned: Any, task_id: str = "") -> str | None:
    """Why a model stage's summary does not show work done, or None when it does.

    A stage must report rows written (``rows``, ``*_rows``) or say why it wrote none
    (``skipped``: a reason); a stage returning nothing, or zero rows without a
    reason, did not do its work.
    """
    if not isinstance(returned, Mapping) or not returned:
        return "returned no summary (rows written or a reason for writing none)"
    if isinstance(returned.get("skipped"), str) and returned["skipped"]:
        return None
    counts = rows_out(returned, ROW_KEYS.get(task_id, ()))
    if counts is None:
        return f"its summary reports no rows written: {_clip(json.dumps(returned, default=str))}"
    if counts == 0:
        return "wrote 0 rows without saying why"
    return None


def rows_out(summary: Mapping[str, Any], extra_keys: Iterable[str] = ()) -> int | None:
    """Rows a stage wrote, from its summary's row counts (``rows``, ``*_rows``, ``extra_keys``)."""
    keys = set(extra_keys)
    counts = [v for k, v in summary.items() if (k == "rows" or k.endswith("_rows") or k in keys) and _is_count(v)]
    return int(sum(counts)) if counts else None


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _names(names: list[str], shown: int = 6) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _first(lines: list[str] | None) -> str:
    return lines[0] if lines else ""


def _clip(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# --- the `dags test` log ----------------------------------------------------------------

_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_LEVEL = re.compile(r"^\S+\s+\[(error|critical)\s*\]\s*(.*)$")
_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit)\w*): (.+)$")
# structlog's key=value tail on the log lines and the noise of Airflow's own error lines
_TAIL = re.compile(r"\s+\[[\w.]+\](?:\s+\w+=\S+)*\s*$")
_NOISE = ("Task failed with exception", "Failure caught", "Exception rendering", "Task instance state updated")


def task_errors(log_text: str) -> dict[str, list[str]]:
    """Error lines per task from the combined output of `airflow dags test`.

    `dags test` runs the tasks one after another in its own process, each between
    "[DAG TEST] starting task_id=X" and "[DAG TEST] end task task_id=X". The useful
    lines are the exception messages ("ValueError: ...", "AirflowFailException: ...")
    and the error-level log lines, most specific first.
    """
    found: dict[str, list[str]] = {}
    current: str | None = None
    continued: int = 0  # lines still to add to a multi-line exception message ("...:" then "- ...")
    for raw in log_text.splitlines():
        line = raw.rstrip()
        if (
            continued
            and current
            and found.get(current)
            and line
            and not _TIMESTAMP.match(line)
            and not line.lstrip().startswith(("Traceback", "File ", "The above exception"))
        ):
            found[current][-1] = _clip(f"{found[current][-1]} {line.strip()}", 600)
            continued -= 1
            continue
        continued = 0
        start = _START.search(line)
        if start:
            current = start.group(1)
            continue
        end = _END.search(line)
        if end:
            current = None
            continue
        if current is None:
            continue
        text = _error_text(line)
        if text and text not in found.setdefault(current, []):
            found[current].append(text)
            continued = 3 if _EXCEPTION.match(line.strip()) and line.endswith(":") else 0
    for _task, lines in found.items():  # exception messages first: they say what went wrong
        lines.sort(key=lambda ln: 0 if _EXCEPTION.match(ln) else 1)
    return {k: v for k, v in found.items() if v}


def log_errors(log_text: str, limit: int = 3) -> list[str]:
    """The exception messages of the whole log, last first (when no task ran, e.g. the
    DAG did not import)."""
    found: list[str] = []
    for line in reversed(log_text.splitlines()):
        match = _EXCEPTION.match(line.strip())
        text = _clip(f"{match.group(1)}: {match.group(2)}", 400) if match else None
        if text and text not in found:
            found.append(text)
    return found[:limit]


def _error_text(line: str) -> str | None:
    stripped = line.strip()
    exception = _EXCEPTION.match(stripped)
    if exception and not stripped.startswith(("Traceback", "File ")):
        return _clip(f"{exception.group(1)}: {exception.group(2)}", 600)
    level = _LEVEL.match(stripped)
    if level:
        message = _TAIL.sub("", level.group(2)).strip()
        if message and not any(n in message for n in _NOISE):
            return _clip(message, 400)
    return None


def dbt_error_lines(output: Iterable[str], limit: int = 5) -> list[str]:
    """The error messages of a dbt run's output (JSON log lines, or text lines)."""
    lines: list[str] = []
    for raw in output:
        raw = raw.strip()
        message = None
        if raw.startswith("{"):
            try:
                event = json.loads(raw)
            except ValueError:
                event = None
            info = (event or {}).get("info") or {}
            if str(info.get("level", "")).lower() == "error":
                message = str(info.get("msg") or "")
        elif re.search(r"\b(Error|ERROR|error)\b", raw):
            message = raw
        if message:
            message = re.sub(r"\x1b\[[0-9;]*m", "", message).strip()
            # dbt's errors say where on the first line and what on the next
            first = ": ".join([ln.strip() for ln in message.splitlines() if ln.strip()][:2])
            if first and first not in lines and not _DBT_PROGRESS.match(first):
                lines.append(_clip(first, 400))
    # "Runtime Error in model x: Conversion Error: ..." says what; "Failure in model x" only where
    lines.sort(key=lambda ln: 0 if _DBT_DETAIL.search(ln) else 1)
    return lines[:limit]


_DBT_PROGRESS = re.compile(r"^\d+ of \d+ (ERROR|FAIL|WARN)\b")  # dbt's progress line of the failing node
_DBT_DETAIL = re.compile(r"\b(Runtime|Database|Compilation|Parsing|Dependency) Error\b")

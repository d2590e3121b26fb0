"""The per-stage lines `cx run` prints at the end of each run (pure): what each
task did, from the summary it returned (its XCom), rows in and rows out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from cx.runner.verdict import TaskRecord

DBT_PREFIX = "dbt."
_DBT_DONE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)(?: NO-OP=\d+)? TOTAL=(\d+)")


def format_stages(tasks: Iterable[TaskRecord], dbt_totals: str | None = None) -> str:
    """One line per task in run order (the DAG's own order is not known here: by stage),
    the dbt model tasks folded into one line."""
    tasks = list(tasks)
    dbt = [t for t in tasks if t.task_id.startswith(DBT_PREFIX)]
    others = sorted((t for t in tasks if not t.task_id.startswith(DBT_PREFIX)), key=lambda t: _rank(t.task_id))
    lines = []
    for t in others:
        if _rank(t.task_id) > _rank("dbt") and dbt:
            lines.append(_dbt_line(dbt, dbt_totals))
            dbt = []
        lines.append(f"    {t.task_id:28s} {t.state or 'none':8s} {describe(t.task_id, t.returned)}".rstrip())
    if dbt:
        lines.append(_dbt_line(dbt, dbt_totals))
    return "\n".join(lines)


ORDER = (
    "check_landing_files",
    "check_freshness",
    "wait_for_earlier_days",
    "load_landing",
    "dbt",
    "validate",
    "should_train_models",
    "models.sentiment",
    "models.segmentation",
    "models.recommendations",
    "models.forecasting",
    "models.retention",
    "publish",
    "validate_published",
    "dbt_docs",
)


def _rank(task_id: str) -> int:
    return ORDER.index(task_id) if task_id in ORDER else len(ORDER)


def _dbt_line(tasks: list[TaskRecord], totals: str | None) -> str:
    models = [t for t in tasks if not t.task_id.endswith(("producer_watcher", "producer_watcher_done"))]
    by_state: dict[str, int] = {}
    for t in models:
        by_state[t.state or "none"] = by_state.get(t.state or "none", 0) + 1
    producer = next((t for t in tasks if t.task_id.endswith("producer_watcher")), None)
    states = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items()))
    text = f"models: {states or 'none'}" + (f"; dbt build {totals}" if totals else "")
    return f"    {'dbt':28s} {(producer.state if producer else 'none') or 'none':8s} {text}"


def dbt_totals(log_text: str) -> str | None:
    """dbt's closing count line ("Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..") of the run's log."""
    found = _DBT_DONE.findall(log_text)
    if not found:
        return None
    passed, warned, errored, skipped, total = found[-1]
    return f"{total} nodes: {passed} passed, {warned} warned, {errored} errors, {skipped} skipped"


def describe(task_id: str, returned: Any) -> str:
    """A short account of a task's returned summary."""
    if returned is None:
        return ""
    if not isinstance(returned, Mapping):
        return _clip(str(returned))
    if isinstance(returned.get("skipped"), str):
        return f"skipped: {returned['skipped']}"
    if task_id == "check_landing_files":
        return _landing(returned)
    if task_id == "load_landing":
        return _loaded(returned)
    if task_id == "check_freshness":
        stale = returned.get("stale") or []
        return f"stale sources: {', '.join(map(str, stale))}" if stale else "no stale source"
    if task_id in ("validate", "validate_published"):
        return _checks(returned)
    if task_id == "publish":
        return "rows published: " + _pairs({k: v for k, v in returned.items() if _number(v)})
    return _generic(returned)


def _landing(summary: Mapping[str, Any]) -> str:
    files = summary.get("files") or {}
    counted = {source: (len(v) if isinstance(v, (list, dict)) else v) for source, v in files.items()}
    absent = summary.get("absent_sources") or []
    return (f"files landed: {_pairs(counted)}" if counted else "no files landed") + (
        f"; absent: {', '.join(map(str, absent))}" if absent else ""
    )


def _loaded(summary: Mapping[str, Any]) -> str:
    """Rows in per source: landing rows read, rejected (kept in quarantine), files."""
    per_source = {k: v for k, v in summary.items() if isinstance(v, Mapping) and _number(v.get("rows"))}
    if not per_source:
        return _generic(summary)
    rows = sum(v["rows"] for v in per_source.values())
    rejected = sum(v.get("rejected") or 0 for v in per_source.values())
    files = sum(v.get("files") or 0 for v in per_source.values())
    detail = ", ".join(f"{k} {v['rows']:,}" for k, v in per_source.items())
    return f"rows in {rows:,} from {files:,} files ({rejected:,} rejected): {detail}"


def _checks(summary: Mapping[str, Any]) -> str:
    critical = summary.get("critical_failures") or []
    warnings = summary.get("warnings") or []
    evaluated, failed = summary.get("evaluated"), summary.get("failed")
    parts = [f"{evaluated} checks, {evaluated - failed} passed" if _number(evaluated) and _number(failed) else ""]
    parts.append(f"{len(critical)} critical failed, {len(warnings)} warnings")
    if _number(summary.get("skipped")) and summary["skipped"]:
        parts.append(f"{summary['skipped']} not evaluated")
    return "; ".join(p for p in parts if p)


def _generic(summary: Mapping[str, Any]) -> str:
    """Numbers first (rows in and out), then short strings; nested numbers summed."""
    items: dict[str, Any] = {}
    for key, value in summary.items():
        if key in ("seconds", "details"):
            continue
        if _number(value) or (isinstance(value, str) and len(value) <= 40):
            items[key] = value
        elif (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
        ):
            items[key] = sum(value.values())
    return _clip(_pairs(items))


def _pairs(items: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {_show(v)}" for k, v in items.items())


def _show(value: Any) -> str:
    if isinstance(value, bool) or not _number(value):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clip(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."

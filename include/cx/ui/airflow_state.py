"""The day's DAG runs, read from Airflow's metadata database by the API server.

Small, read-only queries through Airflow's ORM; the caller passes the session so
this module imports nothing from Airflow at import time.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from typing import Any

DAG_ID = "cx_daily"


def group_task_states(rows: Any) -> list[dict[str, Any]]:
    """``[(task_id, state)]`` -> per group (task id before the first dot) state counts, in first-seen order."""
    groups: dict[str, Counter] = {}
    for task_id, state in rows:
        group = str(task_id).split(".", 1)[0]
        groups.setdefault(group, Counter())[str(state) if state is not None else "no status"] += 1
    return [{"stage": g, "tasks": sum(c.values()), "states": dict(sorted(c.items()))} for g, c in groups.items()]


def runs_on(session: Any, day: Any, dag_id: str = DAG_ID, limit: int = 5) -> list[dict[str, Any]]:
    """Runs of ``dag_id`` whose logical date falls on ``day`` (UTC), newest first, each with its
    task states per stage and the ids of its failed tasks (for links to their logs)."""
    from datetime import datetime, time, timedelta

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    start = datetime.combine(day, time(), tzinfo=UTC)
    stmt = (
        select(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.logical_date >= start, DagRun.logical_date < start + timedelta(days=1))
        .order_by(DagRun.run_after.desc())
        .limit(limit)
    )
    runs = []
    for run in session.scalars(stmt):
        tasks = session.execute(
            select(TaskInstance.task_id, TaskInstance.state)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.start_date.asc().nulls_last(), TaskInstance.task_id)
        ).all()
        runs.append(
            {
                "run_id": run.run_id,
                "run_type": str(run.run_type),
                "state": str(run.state) if run.state is not None else None,
                "logical_date": run.logical_date,
                "start_date": run.start_date,
                "end_date": run.end_date,
                "stages": group_task_states((t, s) for t, s in tasks),
                "failed_tasks": [str(t) for t, s in tasks if str(s) in ("failed", "upstream_failed")][:10],
            }
        )
    return runs

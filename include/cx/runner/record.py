"""Airflow's record of a `dags test` run, read from its metadata DB after the run.

Imports Airflow (seconds): only `cx run` uses this module, after its subprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from cx.runner.verdict import SKIP_REASON_KEY, TaskRecord

DAG_ID = "cx_daily"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    state: str | None
    tasks: list[TaskRecord]


def _logical(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def find_run(run_date: date, created_after: datetime, dag_id: str = DAG_ID) -> RunRecord | None:
    """The run `dags test` created for ``run_date`` at or after ``created_after``, with its
    task instances and their returned values; None when it created none."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.logical_date == _logical(run_date))
            .order_by(DagRun.id.desc())
        ).first()
        if run is None or (run.run_after and run.run_after < created_after):
            return None
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        returned: dict[str, object] = {}
        for x in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run.run_id,
                XComModel.key.in_(("return_value", SKIP_REASON_KEY)),
                XComModel.map_index == -1,
            )
        ):
            value = XComModel.deserialize_value(x)
            # a stage skipped for having nothing to do left its reason, not a summary
            returned[x.task_id] = {"skipped": str(value)} if x.key == SKIP_REASON_KEY else value
        tasks = [
            TaskRecord(
                ti.task_id,
                str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state is not None else None,
                ti.try_number or 0,
                returned.get(ti.task_id),
            )
            for ti in tis
        ]
        state = getattr(run.state, "value", run.state)
        return RunRecord(run.run_id, str(state) if state is not None else None, tasks)


def dag_unpaused(dag_id: str = DAG_ID) -> bool:
    """Whether a scheduler would act on this DAG (it exists and is not paused)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        paused = session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == dag_id))
    return paused is False

"""How runs of different days coordinate: the run's window, its type, the wait for
earlier days in backfills and catch-up, and the ML cadence gate."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from cx.config import Settings
from cx.pipeline import RunWindow

log = logging.getLogger(__name__)

# How many days before/after its own a run looks at for other runs (earlier ones
# still in flight, later ones that exist). Backfills create one run per day and keep
# at most max_active_runs in flight, so the neighbours that matter are close by.
NEIGHBOUR_DAYS = 31
RUNNING = ("running",)
# Runs still to come: the rest of a backfill or catch-up. Finished later runs do not
# count; they may belong to another warehouse sharing the Airflow database.
PENDING = ("queued", "running")
RUN_DAY = timedelta(days=1)  # the DAG's schedule is @daily: one run per extraction day


def run_window(ds: str, params: Mapping[str, Any] | None) -> RunWindow:
    """The days a run covers: its own (``ds``), or ``params.range_start`` to it (bulk)."""
    return RunWindow.resolve(date.fromisoformat(ds), (params or {}).get("range_start"))


def run_window_from_context(context: Any) -> RunWindow:
    return run_window(context["ds"], context.get("params"))


def run_type_of(context: Any) -> str:
    """ "backfill", "scheduled", "manual" or "asset_triggered" (Airflow's DagRunType)."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type) or "manual")


def orders_runs(run_type: str) -> bool:
    """Whether a run coordinates with the runs of other days.

    Backfills and the scheduler's catch-up keep runs of other days in flight. A
    manual run (`airflow dags test`, `make run`, a trigger from the UI) stands
    alone, and must not wait on a run an interrupted `dags test` left "running".
    """
    return run_type in ("backfill", "scheduled")


def count_other_runs(
    context: Any, later: bool, states: tuple[str, ...] | None = None, days: int = NEIGHBOUR_DAYS
) -> int:
    """Runs of this DAG for the ``days`` days after (or before) this run's day, all
    of them or only those in ``states``, counted by Airflow's execution API (tasks have
    no database access in Airflow 3)."""
    logical = context["logical_date"]
    step = RUN_DAY if later else -RUN_DAY
    dates = [logical + step * i for i in range(1, days + 1)]
    ti = context["ti"]
    return int(ti.get_dr_count(dag_id=ti.dag_id, logical_dates=dates, states=list(states) if states else None))


def earlier_days_done(context: Any) -> bool:
    """Poke of `wait_for_earlier_days`: no run of an earlier day is still running.

    Day D's warehouse steps must see the warehouse as of D: the marts describe the
    newest day ingested, and validation checks D's data against them (no order
    "in the future" of D), so a later day loaded first would fail or skew day D.

    Queued runs are not waited for: Airflow starts a backfill's runs in date order,
    so an earlier run that is still queued means the backfill runs backwards
    (``--run-backwards``), where waiting on it could take every run slot forever.
    """
    if not orders_runs(run_type_of(context)):
        return True
    pending = count_other_runs(context, later=False, states=RUNNING)
    if pending:
        log.info("%d run(s) of earlier days still running; %s waits its turn in the warehouse", pending, context["ds"])
    return pending == 0


def training_decision(context: Any, settings: Settings | None = None) -> bool:
    """The `should_train_models` gate: the ML cadence applied to this run."""
    from cx.config import load_settings
    from cx.pipeline import should_train_models

    run_type = run_type_of(context)
    params = context.get("params") or {}
    cadence = params.get("ml_cadence") or None
    later = 0
    if (cadence or (settings or load_settings()).ml_cadence) == "latest" and context.get("logical_date") is not None:
        later = count_other_runs(context, later=True)
    window = run_window_from_context(context)
    return should_train_models(window.run_to, settings, cadence=cadence, run_type=run_type, later_runs=later).train

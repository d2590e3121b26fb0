"""The daily pipeline's steps as plain functions, wired into Airflow by dags/.

Each step takes the run's window of extraction days and the settings, touches the
warehouse only inside ``cx.warehouse.connect()`` and returns a small JSON-able
summary for the task log. The same functions drive the command line and the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from cx.config import SOURCES, Settings, load_settings

# cx.ingest and cx.warehouse (DuckDB, pandas) are imported inside the steps: the DAG
# file imports this module at parse time, which must stay fast.

log = logging.getLogger(__name__)

ML_CADENCES = ("daily", "weekly", "latest")


@dataclass(frozen=True)
class RunWindow:
    """The extraction days one run (re)builds: one day, or a bulk range."""

    run_from: date
    run_to: date

    @classmethod
    def resolve(cls, run_date: date, range_start: str | date | None = None) -> RunWindow:
        start = date.fromisoformat(range_start) if isinstance(range_start, str) and range_start else range_start
        if start and start > run_date:
            raise ValueError(f"range_start {start} is after the run's date {run_date}")
        return cls(start or run_date, run_date)

    @property
    def days(self) -> int:
        return (self.run_to - self.run_from).days + 1


def check_landing(window: RunWindow, settings: Settings | None = None) -> dict:
    """What arrived for the window, per source; absent sources and days are legal."""
    from cx.ingest import discover

    settings = settings or load_settings()
    if not settings.landing_dir.is_dir():
        raise FileNotFoundError(
            f"landing zone {settings.landing_dir} does not exist: set CX_LANDING_DIR to the folder "
            "holding <source>/<YYYY-MM-DD>/ (see CONTRACT.md)"
        )
    files = discover(settings.landing_dir, window.run_from, window.run_to)
    per_source = {s: sum(1 for f in files if f.source == s) for s in SOURCES}
    absent = [s for s in SOURCES if not (settings.landing_dir / s).is_dir()]
    for source in absent:
        log.warning("source %s is absent from the landing zone: the stages needing it will degrade", source)
    if not files:
        log.warning(
            "nothing arrived for %s..%s: the run carries the previous state forward", window.run_from, window.run_to
        )
    return {"files": per_source, "absent_sources": absent}


def load_landing(window: RunWindow, settings: Settings | None = None) -> dict:
    """Replace the window's landing partitions with what the landing zone holds now."""
    from cx.ingest import ingest_range
    from cx.warehouse import connect

    settings = settings or load_settings()
    with connect(settings) as con:
        return ingest_range(con, settings.landing_dir, window.run_from, window.run_to)


@dataclass(frozen=True)
class TrainingDecision:
    train: bool
    reason: str


def decide_training(
    cadence: str,
    run_date: date,
    *,
    run_type: str = "manual",
    later_runs: int = 0,
    newest_landed_day: date | None = None,
    weekday: int = 6,
) -> TrainingDecision:
    """Whether the run of ``run_date`` retrains the models.

    - ``daily``: every run.
    - ``weekly``: runs whose day is ``weekday`` (Monday=0 .. Sunday=6, default Sunday).
    - ``latest``: only the run of the newest day: no run of a later day may exist
      (``later_runs``, from Airflow; a backfill creates all its runs up front), so a
      backfill trains once, on its last day, and re-running or clearing an older day
      never retrains. A run outside a backfill must also have reached the newest day
      in the landing zone, so a scheduler catching up trains once too.
    """
    if cadence not in ML_CADENCES:
        raise ValueError(f"ML cadence {cadence!r}: expected one of {', '.join(ML_CADENCES)}")
    if cadence == "daily":
        return TrainingDecision(True, "cadence daily")
    if cadence == "weekly":
        if run_date.weekday() == weekday:
            return TrainingDecision(True, f"cadence weekly: {run_date:%A} is the training day")
        return TrainingDecision(False, f"cadence weekly: {run_date:%A} is not the training day")
    if later_runs:
        return TrainingDecision(False, f"cadence latest: this DAG has {later_runs} run(s) of later days")
    if run_type == "backfill":
        return TrainingDecision(True, "cadence latest: the last run of the backfill")
    if newest_landed_day is not None and run_date < newest_landed_day:
        return TrainingDecision(False, f"cadence latest: the landing zone already holds {newest_landed_day}")
    return TrainingDecision(True, "cadence latest: the newest day")


def should_train_models(
    run_date: date,
    settings: Settings | None = None,
    *,
    cadence: str | None = None,
    run_type: str = "manual",
    later_runs: int = 0,
) -> TrainingDecision:
    """:func:`decide_training` with the cadence from the run (or CX_ML_CADENCE) and the landing zone."""
    from cx.ingest import landed_days

    settings = settings or load_settings()
    cadence = (cadence or settings.ml_cadence).lower()
    newest = None
    if cadence == "latest" and run_type != "backfill" and not later_runs:
        days = [d for ds in landed_days(settings.landing_dir).values() for d in ds]
        newest = max(days) if days else None
    decision = decide_training(
        cadence,
        run_date,
        run_type=run_type,
        later_runs=later_runs,
        newest_landed_day=newest,
        weekday=settings.ml_weekday,
    )
    log.info("models %s for %s: %s", "train" if decision.train else "skipped", run_date, decision.reason)
    return decision


class SourceStaleError(RuntimeError):
    """A source is silent longer than its SLA and CX_FRESHNESS_FAIL is on."""


def check_freshness(
    window: RunWindow,
    settings: Settings | None = None,
    *,
    notify: bool = True,
    dag_id: str = "cx_daily",
    run_id: str = "",
) -> dict:
    """Record each source's freshness as of the run's day; warn (and alert) on stale ones.

    Writes the day's rows of ``main.source_freshness`` (replaced, so re-runs are
    idempotent). Raises :class:`SourceStaleError` after recording when
    ``CX_FRESHNESS_FAIL`` is on and a source is stale.
    """
    from cx import freshness
    from cx.ingest import landed_days
    from cx.warehouse import connect, replace_partition

    settings = settings or load_settings()
    landed = {s: d for s, d in landed_days(settings.landing_dir).items() if (settings.landing_dir / s).is_dir()}
    results = freshness.evaluate(landed, window.run_to, settings.freshness_sla, SOURCES)
    with connect(settings) as con:
        con.execute(freshness.TABLE_DDL)
        replace_partition(con, "source_freshness", freshness.to_frame(results), window.run_to)
    stale = [r for r in results if r.stale]
    for r in stale:
        log.warning("source stale as of %s: %s", window.run_to, r.describe())
    summary = {
        "as_of_date": window.run_to.isoformat(),
        "stale": [r.source for r in stale],
        "sources": {r.source: r.describe() for r in results},
        "alerted": False,
    }
    if stale and settings.freshness_fail:
        raise SourceStaleError(
            f"{len(stale)} source(s) silent longer than their SLA as of {window.run_to}: "
            + "; ".join(r.describe() for r in stale)
        )
    if stale and notify:
        from cx.alerts import deliver, freshness_payload

        stale_rows = [
            {
                "source": r.source,
                "last_delivery": str(r.last_delivery),
                "days_silent": r.days_silent,
                "sla_days": r.sla_days,
            }
            for r in stale
        ]
        summary["alerted"] = deliver(
            freshness_payload(dag_id, run_id, window.run_to.isoformat(), stale_rows), settings.alert_conn_id
        )
    return summary


def previous_day(day: date) -> date:
    return day - timedelta(days=1)

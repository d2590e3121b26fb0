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
from cx.ingest import discover, ingest_range, landed_days
from cx.warehouse import connect

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
        log.warning("nothing arrived for %s..%s: the run carries the previous state forward",
                    window.run_from, window.run_to)
    return {"files": per_source, "absent_sources": absent}


def load_landing(window: RunWindow, settings: Settings | None = None) -> dict:
    """Replace the window's landing partitions with what the landing zone holds now."""
    settings = settings or load_settings()
    with connect(settings) as con:
        return ingest_range(con, settings.landing_dir, window.run_from, window.run_to)


def should_train_models(run_date: date, settings: Settings | None = None, latest_day: date | None = None) -> bool:
    """Whether this run retrains the models (CX_ML_CADENCE: daily, weekly, latest).

    ``weekly`` trains on Sundays' runs; ``latest`` only on the run of the newest day
    in the landing zone, so a year-long backfill trains once, at its end.
    """
    settings = settings or load_settings()
    cadence = settings.ml_cadence
    if cadence not in ML_CADENCES:
        raise ValueError(f"CX_ML_CADENCE={cadence!r}: expected one of {', '.join(ML_CADENCES)}")
    if cadence == "daily":
        return True
    if cadence == "weekly":
        return run_date.weekday() == 6
    if latest_day is None:
        days = [d for ds in landed_days(settings.landing_dir).values() for d in ds]
        latest_day = max(days) if days else run_date
    return run_date >= latest_day


def previous_day(day: date) -> date:
    return day - timedelta(days=1)

"""What each view of the page reads for a chosen day, in one short warehouse visit.

``load`` resolves the day (the URL's ``as_of``, else the newest run day), says
whether the pipeline ran that day, and calls the view's collector; the result goes
to the view's template. The views themselves live in :mod:`cx.ui.sections`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from cx.config import Settings
from cx.ui import queries
from cx.ui.reader import UiConfig, Unavailable, read_warehouse
from cx.ui.sections import customer, forecasts, models, overview, quality, retention, segments, sentiment

Collector = Callable[[duckdb.DuckDBPyConnection, date], dict[str, Any]]


@dataclass
class Loaded:
    day: date | None  # the day shown
    days: list[date]  # run days, newest first
    ran: bool  # the pipeline has results for ``day``
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def previous_day(self) -> date | None:
        older = [d for d in self.days if self.day and d < self.day]
        return older[0] if older else None

    @property
    def next_day(self) -> date | None:
        newer = [d for d in self.days if self.day and d > self.day]
        return newer[-1] if newer else None


def load(
    settings: Settings, requested: date | None, collect: Collector, cfg: UiConfig = UiConfig()
) -> Loaded | Unavailable:
    def run(con: duckdb.DuckDBPyConnection) -> Loaded:
        days = queries.as_of_dates(con, limit=cfg.as_of_choices)
        day = requested or (days[0] if days else None)
        if day is None:
            return Loaded(None, days, False)
        ran = day in days or bool(queries.as_of_dates_between(con, day, day))
        return Loaded(day, days, ran, collect(con, day))

    return read_warehouse(settings, run, cfg)


def _quality(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    return {
        "checks": quality.day_checks(con, day),
        "history": quality.check_history(con, day),
        "sources": quality.source_history(con, day),
        "quarantine": quality.quarantine_trend(con, day),
        "reasons": quality.quarantine_reasons(con, day),
        "history_days": quality.HISTORY_DAYS,
    }


def check_view(suite: str, expectation: str) -> Collector:
    def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
        return {
            "check": quality.check_detail(con, day, suite, expectation),
            "history": quality.check_history(con, day).get((suite, expectation), ""),
            "history_days": quality.HISTORY_DAYS,
        }

    return collect


def customer_view(key: str | None) -> Collector:
    def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
        if not key:
            return {"query": None}
        found = customer.collect(con, key, day)
        if found.get("found") and found.get("segment"):
            _, features, rows = segments.profiles(con, day)
            found["segment_profile"] = {
                "features": features,
                "row": next((r for r in rows if r["segment"] == found["segment"]["name"]), None),
            }
        return {"query": key, **found}

    return collect


def forecast_view(only: tuple[str, str] | None = None) -> Collector:
    def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
        verdicts = [v for v in models.model_verdicts(con, day) if v.model == "forecast"]
        return {**forecasts.collect(con, day, only), "models": verdicts}

    return collect


VIEWS: dict[str, Collector] = {
    "overview": overview.collect,
    "segments": segments.collect,
    "retention": retention.collect,
    "sentiment": sentiment.collect,
    "quality": _quality,
}

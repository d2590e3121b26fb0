"""Source freshness: has each source delivered recently enough, as of a run's day?

CONTRACT.md: a missing day folder is not an error by itself; "a freshness check
decides when silence becomes a problem". A source is **stale** when it has
delivered before and its latest delivery (on or before the run's day) is more
than its SLA in days old. Sources that never delivered are absent by design (a
shop without a support desk), not stale. Only day folders up to the run's day
count, so a backfilled day is judged by what had arrived by then, and a re-run
gives the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date

import pandas as pd

FRESH = "fresh"
STALE = "stale"
NOT_DELIVERED_YET = "not_delivered_yet"  # the source's folder exists, but no day up to the run's day
ABSENT = "absent"  # the landing zone has no folder for the source

COLUMNS = ("source", "status", "last_delivery", "days_silent", "sla_days")


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    status: str
    last_delivery: date | None
    days_silent: int | None  # days since the latest delivery; 0 = delivered on the run's day
    sla_days: int

    @property
    def stale(self) -> bool:
        return self.status == STALE

    def describe(self) -> str:
        if self.status == STALE:
            return (
                f"{self.source}: no delivery for {self.days_silent} days (last {self.last_delivery}, "
                f"SLA {self.sla_days} days)"
            )
        if self.status == FRESH:
            return f"{self.source}: last delivery {self.last_delivery} ({self.days_silent} days ago)"
        return f"{self.source}: {self.status.replace('_', ' ')}"


def evaluate(
    landed: Mapping[str, Iterable[date]],
    as_of: date,
    sla_days: Callable[[str], int],
    sources: Iterable[str],
) -> list[SourceFreshness]:
    """Freshness of each of ``sources`` as of ``as_of``.

    ``landed`` maps a source to the date folders it holds; a source missing from
    the mapping has no folder at all. ``sla_days(source)`` gives its SLA.
    """
    results: list[SourceFreshness] = []
    for source in sources:
        sla = int(sla_days(source))
        if sla < 0:
            raise ValueError(f"freshness SLA of {source} is {sla} days: it must be 0 or more")
        if source not in landed:
            results.append(SourceFreshness(source, ABSENT, None, None, sla))
            continue
        delivered = [d for d in landed[source] if d <= as_of]
        if not delivered:
            results.append(SourceFreshness(source, NOT_DELIVERED_YET, None, None, sla))
            continue
        last = max(delivered)
        silent = (as_of - last).days
        results.append(SourceFreshness(source, STALE if silent > sla else FRESH, last, silent, sla))
    return results


def to_frame(results: Iterable[SourceFreshness]) -> pd.DataFrame:
    """One row per source, the shape of ``main.source_freshness`` (as_of_date is added on write)."""
    frame = pd.DataFrame([asdict(r) for r in results], columns=list(COLUMNS))
    # datetime64 with NaT for "never": DuckDB stores it as a date column (see TABLE_DDL).
    frame["last_delivery"] = pd.to_datetime(frame["last_delivery"])
    return frame.astype({"days_silent": "Int64", "sla_days": "int64"})


# Created before the first write, so the column types do not depend on the first day's values.
TABLE_DDL = (
    "create table if not exists main.source_freshness (source varchar, status varchar, "
    "last_delivery date, days_silent integer, sla_days integer, as_of_date date)"
)

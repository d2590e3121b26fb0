"""Overview: the day's health (pipeline, data quality, each model against its
baseline), the CX KPIs with their trend, and what changed since the previous run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import STAGES, main_tables, table_columns
from cx.ui.sections import models
from cx.ui.sections.segments import movements
from cx.warehouse import table_exists

TREND_DAYS = 30


@dataclass
class Kpi:
    name: str
    unit: str
    values: list[float | None]  # oldest first, one per day of the window
    days: list[date]
    higher_is_better: bool = True
    value: float | None = None
    previous: float | None = None
    trailing: float | None = None  # mean of the 7 days before
    notes: list[str] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        """Relative change for amounts; the plain difference for scores and shares."""
        if self.value is None or self.previous is None:
            return None
        if self.unit:
            return self.value - self.previous
        return self.value / self.previous - 1 if self.previous else None


def _series(frame: pd.DataFrame, days: list[date], column: str) -> list[float | None]:
    by_day = (
        {pd.Timestamp(d).date(): v for d, v in zip(frame["day"], frame[column], strict=False)}
        if not frame.empty
        else {}
    )
    return [None if (v := by_day.get(d)) is None or pd.isna(v) else float(v) for d in days]


def _finish(kpi: Kpi) -> Kpi:
    kpi.value = kpi.values[-1] if kpi.values else None
    kpi.previous = kpi.values[-2] if len(kpi.values) > 1 else None
    window = [v for v in kpi.values[-8:-1] if v is not None]
    kpi.trailing = sum(window) / len(window) if window else None
    return kpi


def kpis(con: duckdb.DuckDBPyConnection, day: date, days: int = TREND_DAYS) -> list[Kpi]:
    """Revenue, orders, order value, ordering customers, review sentiment, negative tickets per day."""
    window = [day - timedelta(days=days - 1 - i) for i in range(days)]
    start = window[0]
    out: list[Kpi] = []
    if table_exists(con, "fct_daily_sales", "marts"):
        sales = con.execute(
            """select ds as day, revenue, orders, revenue / nullif(orders, 0) as aov
                               from marts.fct_daily_sales where series = 'total' and ds between ? and ?""",
            [start, day],
        ).df()
        out += [
            Kpi("Revenue", "", _series(sales, window, "revenue"), window),
            Kpi("Orders", "", _series(sales, window, "orders"), window),
            Kpi("Average order value", "", _series(sales, window, "aov"), window),
        ]
    if "fct_orders" in main_tables(con) and {"ordered_at", "status"} <= table_columns(con, "fct_orders"):
        buyers = con.execute(
            """select ordered_at::date as day, count(distinct customer_id) as buyers
                                from main.fct_orders where ordered_at >= ? and ordered_at < ? + interval 1 day
                                and status <> 'cancelled' group by 1""",
            [start, day],
        ).df()
        out.append(Kpi("Ordering customers", "", _series(buyers, window, "buyers"), window))
    if table_exists(con, "fct_texts", "marts") and {"review_sentiment", "ticket_sentiment"} <= main_tables(con):
        texts = con.execute(
            """
            with scores as (
                select review_id as text_id, 'review' as source, sentiment_score, sentiment_label
                from main.review_sentiment where as_of_date = (select max(as_of_date) from main.review_sentiment where as_of_date <= $day)
                union all
                select ticket_id, 'ticket', sentiment_score, sentiment_label
                from main.ticket_sentiment where as_of_date = (select max(as_of_date) from main.ticket_sentiment where as_of_date <= $day))
            select t.created_at::date as day,
                   avg(sentiment_score) filter (where s.source = 'review') as review_sentiment,
                   avg((sentiment_label = 'negative')::int) filter (where s.source = 'ticket') as negative_tickets
            from scores s join marts.fct_texts t on t.text_id = s.text_id and t.source = s.source
            where t.created_at >= $start and t.created_at < $day + interval 1 day group by 1""",
            {"day": day, "start": start},
        ).df()
        out += [
            Kpi("Review sentiment", "score", _series(texts, window, "review_sentiment"), window),
            Kpi("Negative tickets", "share", _series(texts, window, "negative_tickets"), window, False),
        ]
    return [_finish(k) for k in out]


def stages_on(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Per stage: rows it produced for the day (None: no output that day)."""
    tables = main_tables(con)
    rows = []
    for stage in STAGES:
        count = None
        if stage.table in tables:
            count = con.execute(f"select count(*) from main.{stage.table} where as_of_date = ?", [day]).fetchone()[0]
        rows.append({"stage": stage.name, "table": stage.table, "rows": count})
    return rows


def quality_on(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    if "dq_results" not in main_tables(con):
        return {"checks": 0}
    sev = "coalesce(severity, 'unspecified')"
    checks, failed, critical, skipped = con.execute(
        f"""
        select count(*), count(*) filter (where success = false),
               count(*) filter (where success = false and {sev} = 'critical'), count(*) filter (where success is null)
        from main.dq_results where as_of_date = ?""",
        [day],
    ).fetchone()
    return {"checks": checks, "failed": failed, "critical": critical, "skipped": skipped}


def changes(con: duckdb.DuckDBPyConnection, day: date) -> list[str]:
    """Plain sentences about what differs from the previous run day."""
    out: list[str] = []
    tables = main_tables(con)
    if "dq_results" in tables:
        prev = con.execute("select max(as_of_date) from main.dq_results where as_of_date < ?", [day]).fetchone()[0]
        if prev is not None:
            rows = con.execute(
                """
                select t.suite || '.' || t.expectation, y.success
                from main.dq_results t left join main.dq_results y
                  on y.as_of_date = ? and y.suite = t.suite and y.expectation = t.expectation
                where t.as_of_date = ? and t.success = false and y.success is distinct from false
                order by 1""",
                [prev, day],
            ).fetchall()
            if rows:
                out.append(
                    f"{len(rows)} check(s) newly failing since {prev}: "
                    + ", ".join(r[0] for r in rows[:5])
                    + (" …" if len(rows) > 5 else "")
                )
    if "model_runs" in tables:
        rows = con.execute(
            """
            with v as (select model, as_of_date, string_agg(distinct model_version, ', ' order by model_version) as version
                       from main.model_runs where as_of_date <= ? group by all),
                 ranked as (select *, row_number() over (partition by model order by as_of_date desc) as n from v)
            select a.model, b.version, a.version from ranked a join ranked b on a.model = b.model and b.n = 2
            where a.n = 1 and a.as_of_date = ? and a.version is distinct from b.version""",
            [day, day],
        ).fetchall()
        out += [f"{m}: published {new} (was {old})" for m, old, new in rows]
    prev, moves = movements(con, day)
    moved = sum(int(m["customers"]) for m in moves if m["from_segment"] != "(new)" and m["to_segment"] != "(gone)")
    if prev is not None and moves:
        new = sum(int(m["customers"]) for m in moves if m["from_segment"] == "(new)")
        out.append(f"{moved:,} customers changed segment since {prev}" + (f"; {new:,} new customers" if new else ""))
    if "quarantine" in tables:
        today, before = con.execute(
            """select count(*) filter (where as_of_date = ?),
                                              count(*) filter (where as_of_date = ? - interval 1 day)
                                       from main.quarantine""",
            [day, day],
        ).fetchone()
        if today or before:
            out.append(f"{today:,} rows quarantined (previous day {before:,})")
    return out


def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    return {
        "kpis": kpis(con, day),
        "stages": stages_on(con, day),
        "quality": quality_on(con, day),
        "models": models.model_verdicts(con, day),
        "changes": changes(con, day),
    }

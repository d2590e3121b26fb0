"""Segments: what defines each (the segmentation run's profiles), each segment's
share of customers over time, and the customers who moved since the previous run."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb

from cx.ui.queries import main_tables, segment_sizes

# Profile features shown first (the RFM core), then whatever else the run used.
PROFILE_ORDER = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "web_sessions",
    "avg_sentiment",
)


def profiles(con: duckdb.DuckDBPyConnection, day: date) -> tuple[date | None, list[str], list[dict[str, Any]]]:
    """The newest segmentation run's profile per segment: (run day, features, rows)."""
    if "model_runs" not in main_tables(con):
        return None, [], []
    row = con.execute(
        """
        select as_of_date, details from main.model_runs
        where model = 'segmentation' and metric = 'k' and as_of_date <= ? order by as_of_date desc limit 1""",
        [day],
    ).fetchone()
    if row is None:
        return None, [], []
    try:
        details = json.loads(row[1]) if row[1] else {}
    except ValueError:
        details = {}
    found = details.get("profiles") or {}
    sizes = details.get("sizes") or {}
    names = sorted(found)
    features = sorted(
        {f for p in found.values() for f in p},
        key=lambda f: (PROFILE_ORDER.index(f) if f in PROFILE_ORDER else len(PROFILE_ORDER), f),
    )
    rows = [{"segment": n, "size": sizes.get(n), "values": [found[n].get(f) for f in features]} for n in names]
    return row[0], features, rows


def shares(con: duckdb.DuckDBPyConnection, day: date, days: int = 60) -> tuple[list[date], dict[str, list[float]]]:
    """Each segment's share of segmented customers per run day (oldest first)."""
    frame = segment_sizes(con, day, days)
    if frame.empty:
        return [], {}
    wide = frame.pivot_table(
        index="as_of_date", columns="segment_name", values="customers", aggfunc="sum", fill_value=0
    ).sort_index()
    totals = wide.sum(axis=1).replace(0, 1)
    share = wide.div(totals, axis=0)
    return list(share.index), {str(c): [float(v) for v in share[c]] for c in share.columns}


def sizes_on(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple[str, int]]:
    frame = segment_sizes(con, day, 1)
    if frame.empty or frame["as_of_date"].iloc[0] != day:
        return []
    return [(str(r.segment_name), int(r.customers)) for r in frame.itertuples()]


def movements(con: duckdb.DuckDBPyConnection, day: date, limit: int = 40) -> tuple[date | None, list[dict[str, Any]]]:
    """Customers per (from, to) segment between the previous segmentation run and ``day``'s."""
    if "customer_segments" not in main_tables(con):
        return None, []
    prev = con.execute("select max(as_of_date) from main.customer_segments where as_of_date < ?", [day]).fetchone()[0]
    if prev is None:
        return None, []
    frame = con.execute(
        """
        with now as (select customer_id, segment_name from main.customer_segments where as_of_date = $day),
             before as (select customer_id, segment_name from main.customer_segments where as_of_date = $prev)
        select coalesce(before.segment_name, '(new)') as from_segment, coalesce(now.segment_name, '(gone)') as to_segment,
               count(*) as customers
        from now full outer join before using (customer_id)
        where before.segment_name is distinct from now.segment_name
        group by all order by customers desc, from_segment, to_segment limit $limit""",
        {"day": day, "prev": prev, "limit": limit},
    ).df()
    return prev, frame.to_dict("records") if not frame.empty else []


def collect(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, Any]:
    run_day, features, profile_rows = profiles(con, day)
    days, share = shares(con, day)
    prev, moves = movements(con, day)
    return {
        "profile_day": run_day,
        "features": features,
        "profiles": profile_rows,
        "share_days": days,
        "shares": share,
        "sizes": sizes_on(con, day),
        "moves_from": prev,
        "moves": moves,
    }

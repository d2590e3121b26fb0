"""Data quality: the day's checks, their history per check and per source, the
quarantine trend, and one failing check explained (rule, expected vs observed).

Check details can quote the rows that failed (an e-mail that does not parse): only
the rule, the counts and the observed statistic leave this module, plus the sample
fields of aggregate checks (a volume check's day, rows, trailing mean, ratio).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from cx.ui.queries import main_tables, reason_sql, table_columns

# Sample fields that describe a day's aggregate, never a person: shown in a drill-down.
AGGREGATE_SAMPLE_FIELDS = ("day", "rows", "trailing_mean", "history_days", "ratio")
RULE_FIELDS = (
    "min_value",
    "max_value",
    "threshold",
    "mostly",
    "strict_min",
    "strict_max",
    "value_set",
    "column_set",
    "type_",
    "regex",
)
HISTORY_DAYS = 30


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _severity(con: duckdb.DuckDBPyConnection) -> str:
    return "coalesce(severity, 'unspecified')" if "severity" in table_columns(con, "dq_results") else "'unspecified'"


def day_checks(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Every check of the day: failed first (critical, then most bad rows)."""
    if "dq_results" not in main_tables(con):
        return []
    frame = con.execute(
        f"""
        select suite, expectation, "table", {_severity(con)} as severity, success, unexpected_count
        from main.dq_results where as_of_date = ?
        order by success is not false, severity <> 'critical', unexpected_count desc nulls last, suite, expectation
        """,
        [day],
    ).df()
    return _records(frame)


def check_history(con: duckdb.DuckDBPyConnection, day: date, days: int = HISTORY_DAYS) -> dict[tuple[str, str], str]:
    """(suite, expectation) -> one character per day up to ``day`` (oldest first):
    ``+`` passed, ``x`` failed, ``-`` no verdict, `` `` not run."""
    if "dq_results" not in main_tables(con):
        return {}
    start = day - timedelta(days=days - 1)
    rows = con.execute(
        """
        select suite, expectation, as_of_date, success from main.dq_results
        where as_of_date between ? and ?""",
        [start, day],
    ).fetchall()
    history: dict[tuple[str, str], list[str]] = {}
    for suite, expectation, as_of, success in rows:
        marks = history.setdefault((suite, expectation), [" "] * days)
        marks[(as_of - start).days] = "-" if success is None else "+" if success else "x"
    return {k: "".join(v) for k, v in history.items()}


def source_history(con: duckdb.DuckDBPyConnection, day: date, days: int = HISTORY_DAYS) -> pd.DataFrame:
    """Per source table and day: checks failed and run (the per-source trend)."""
    columns = ["table", "as_of_date", "checks", "failed"]
    if "dq_results" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    return con.execute(
        """
        select "table", as_of_date, count(*) as checks, count(*) filter (where success = false) as failed
        from main.dq_results where as_of_date between ? and ?
        group by all order by "table", as_of_date""",
        [day - timedelta(days=days - 1), day],
    ).df()[columns]


def quarantine_trend(con: duckdb.DuckDBPyConnection, day: date, days: int = HISTORY_DAYS) -> pd.DataFrame:
    """Quarantined rows per day and source over the trailing window."""
    columns = ["as_of_date", "source", "rows"]
    if "quarantine" not in main_tables(con):
        return pd.DataFrame(columns=columns)
    return con.execute(
        """
        select as_of_date, source, count(*) as rows from main.quarantine
        where as_of_date between ? and ? group by all order by as_of_date, source""",
        [day - timedelta(days=days - 1), day],
    ).df()[columns]


def quarantine_reasons(con: duckdb.DuckDBPyConnection, day: date, limit: int = 50) -> list[dict[str, Any]]:
    """The day's quarantined rows by source and reason (raw lines stay in the warehouse)."""
    if "quarantine" not in main_tables(con):
        return []
    return _records(
        con.execute(
            f"""
        select source, {reason_sql()} as reason, count(*) filter (where as_of_date = ?) as rows_day,
               count(*) as rows_total
        from main.quarantine where as_of_date <= ? group by all
        having rows_day > 0 order by rows_day desc, source, reason limit ?""",
            [day, day, limit],
        ).df()
    )


def check_detail(con: duckdb.DuckDBPyConnection, day: date, suite: str, expectation: str) -> dict[str, Any] | None:
    """One check of the day explained: its rule, what was expected and what was observed."""
    if "dq_results" not in main_tables(con):
        return None
    row = con.execute(
        f"""
        select suite, expectation, "table", {_severity(con)}, success, unexpected_count, details
        from main.dq_results where as_of_date = ? and suite = ? and expectation = ?""",
        [day, suite, expectation],
    ).fetchone()
    if row is None:
        return None
    details = _parse(row[6])
    out = {
        "suite": row[0],
        "expectation": row[1],
        "table": row[2],
        "severity": row[3],
        "success": row[4],
        "unexpected_count": row[5],
        "rule": details.get("expectation_type"),
        "column": details.get("column"),
        "why": details.get("why"),
        "error": details.get("error"),
        "skipped": details.get("skipped"),
        "expected": {k: v for k, v in (details.get("kwargs") or {}).items() if k in RULE_FIELDS},
        "observed": _observed(details.get("observed_value")),
        "rows": details.get("rows"),
        "unexpected_percent": details.get("unexpected_percent"),
        "aggregates": _aggregate_samples(details.get("samples")),
    }
    out["sentence"] = explain(out)
    return out


def _parse(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _observed(value: Any) -> Any:
    """An observed statistic (a number, a mix): kept; a list of values could hold rows: counted."""
    if isinstance(value, list):
        return f"{len(value)} values"
    return value


def _aggregate_samples(samples: Any) -> list[dict[str, Any]]:
    if not isinstance(samples, list):
        return []
    keep = []
    for sample in samples:
        if isinstance(sample, dict) and sample and set(sample) <= set(AGGREGATE_SAMPLE_FIELDS):
            keep.append({k: sample.get(k) for k in AGGREGATE_SAMPLE_FIELDS if k in sample})
    return keep


def _n(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def explain(check: dict[str, Any]) -> str:
    """One sentence an analyst can act on: what the data showed against the rule."""
    if check.get("error"):
        return f"The check could not run: {check['error']}"
    if check.get("skipped"):
        return f"No verdict: {check['skipped']}"
    parts = []
    for sample in check.get("aggregates") or []:
        if {"rows", "ratio"} <= set(sample) and sample.get("ratio") is not None:
            mean, history = sample.get("trailing_mean"), sample.get("history_days")
            of_mean = f" of {_n(mean)}" if mean is not None else ""
            over = f" over {history} days" if history else ""
            parts.append(
                f"{_n(sample['rows'])} rows on {sample.get('day', 'the day')}, "
                f"{sample['ratio']:.1f}x the trailing mean{of_mean}{over}"
            )
    if not parts and check.get("unexpected_count") is not None:
        of = f" of {_n(check['rows'])}" if check.get("rows") is not None else ""
        pct = check.get("unexpected_percent")
        parts.append(
            f"{_n(check['unexpected_count'])} rows{of} break the rule"
            f"{f' ({pct:.2g}%)' if isinstance(pct, (int, float)) else ''}"
        )
    elif not parts and check.get("observed") is not None:
        parts.append(f"observed {_n(check['observed'])}")
    expected = check.get("expected") or {}
    low, high = expected.get("min_value"), expected.get("max_value")
    if low is not None or high is not None:
        bounds = (
            f"between {_n(low)} and {_n(high)}"
            if low is not None and high is not None
            else f"at least {_n(low)}"
            if low is not None
            else f"at most {_n(high)}"
        )
        parts.append(f"allowed: {check.get('column') or 'value'} {bounds}")
    return "; ".join(parts) if parts else "See the rule below."

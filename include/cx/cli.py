"""Command line for the Makefile: run the pipeline through Airflow, print a summary.

    python -m cx.cli run --from 2024-01-01 --to 2024-03-31
    python -m cx.cli summary [--as-of 2024-03-31]

`run` drives `airflow dags test cx_daily` (the embedded, single-machine way of
running DAGs): a range longer than CX_BULK_MIN_DAYS days is one bulk run (one
ingest, one dbt build, models once), shorter ranges are one run per day, exactly
like the schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from cx.config import PUBLISHED_TABLES, load_settings


def airflow_executable() -> str:
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else "airflow"


def dag_test(run_date: date, range_start: date | None = None) -> float:
    """One cx_daily run through Airflow; raises when any task fails."""
    conf = {"range_start": range_start.isoformat()} if range_start else {}
    command = [airflow_executable(), "dags", "test", "cx_daily", run_date.isoformat(), "-c", json.dumps(conf)]
    label = f"{range_start}..{run_date} (bulk)" if range_start else str(run_date)
    print(f"==> cx_daily {label}", flush=True)
    started = time.monotonic()
    log_dir = load_settings().artifacts_dir / "run_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"cx_daily_{run_date}.log"
    with open(log_path, "w") as log_file:
        completed = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    failed = _failed_tasks(log_path)
    if completed.returncode != 0 or failed:
        raise SystemExit(
            f"cx_daily {label} failed (exit {completed.returncode}); failed tasks: {', '.join(failed) or 'see log'}\n"
            f"full log: {log_path}\n" + _tail(log_path)
        )
    print(f"    ok in {elapsed:.0f}s (log: {log_path})", flush=True)
    return elapsed


def _failed_tasks(log_path: Path) -> list[str]:
    """Task ids that ended failed, from `airflow dags test` output."""
    import re

    failed: list[str] = []
    pattern = re.compile(r"new_state=failed.*?task_id='?([\w.]+)")
    for line in log_path.read_text(errors="replace").splitlines():
        if "Marking task as FAILED" in line or "new_state=failed" in line:
            match = pattern.search(line) or re.search(r"task_id=([\w.]+)", line)
            failed.append(match.group(1) if match else line[:160])
    return failed


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines()
    interesting = [l for l in text if "Skipping registering" not in l]
    return "\n".join(interesting[-lines:])


def run_range(start: date, end: date, bulk_min_days: int) -> None:
    if start > end:
        raise SystemExit(f"--from {start} is after --to {end}")
    days = (end - start).days + 1
    if days >= bulk_min_days:
        dag_test(end, range_start=start)
        return
    for offset in range(days):
        dag_test(start + timedelta(days=offset))


def summary(as_of: date | None = None) -> str:
    """Rows per published table, model metrics and data-quality results of a run."""
    from cx.warehouse import connect, table_exists

    settings = load_settings()
    lines: list[str] = []
    with connect(settings) as con:
        if not table_exists(con, "model_runs"):
            return f"no published tables in {settings.warehouse} yet: run the pipeline first"
        as_of = as_of or con.execute("select max(as_of_date) from main.model_runs").fetchone()[0]
        lines.append(f"cx-personalization: warehouse {settings.warehouse}, as of {as_of}")
        lines.append("\nPublished tables (rows; partitioned tables: the as-of day)")
        for table in PUBLISHED_TABLES:
            if not table_exists(con, table):
                lines.append(f"  {table:26s} MISSING")
                continue
            columns = {r[0] for r in con.execute(f"describe main.{table}").fetchall()}
            partitioned = table not in ("dim_customers", "dim_products", "fct_orders", "quarantine")
            where = " where as_of_date = ?" if partitioned and "as_of_date" in columns else ""
            n = con.execute(f"select count(*) from main.{table}{where}", [as_of] if where else []).fetchone()[0]
            lines.append(f"  {table:26s} {n:>10,}")
        lines.append("\nModel metrics (value vs baseline)")
        for model, metric, value, baseline, passed, version in con.execute(
            "select model, metric, value, baseline_value, passed, model_version from main.model_runs "
            "where as_of_date = ? order by model, metric", [as_of]
        ).fetchall():
            base = "" if baseline is None else f"  baseline {baseline:.4g}"
            verdict = "" if passed is None else ("  PASS" if passed else "  below baseline")
            shown = "n/a" if value is None else f"{value:.4g}"
            lines.append(f"  {model:16s} {metric:34s} {shown:>10}{base}{verdict}  [{version}]")
        lines.append("\nData quality (this run)")
        for severity, total, failed in con.execute(
            "select severity, count(*), count(*) filter (where success = false) from main.dq_results "
            "where as_of_date = ? group by severity order by severity", [as_of]
        ).fetchall():
            lines.append(f"  {severity:10s} {total:4d} checks, {failed} failed")
        lines.append("\nQuarantine by source and reason (all days)")
        for source, reason, n in con.execute(
            "select source, reason, count(*) from main.quarantine group by all order by source, 3 desc"
        ).fetchall():
            lines.append(f"  {source:16s} {reason[:60]:60s} {n:>8,}")
        unbalanced = con.execute("select count(*) from main.reconciliation where not is_balanced").fetchone()[0]
        lines.append(f"\nReconciliation: landing rows = clean + quarantined on every source/day: "
                     f"{'yes' if unbalanced == 0 else f'NO ({unbalanced} unbalanced)'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cx", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run cx_daily through Airflow over a range of extraction days")
    run.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    run.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    run.add_argument("--bulk-min-days", type=int, default=int(os.environ.get("CX_BULK_MIN_DAYS", "3")),
                     help="ranges at least this long load in one bulk run (default 3)")
    show = sub.add_parser("summary", help="print rows, model metrics and data-quality results")
    show.add_argument("--as-of", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    if args.command == "run":
        run_range(args.start, args.end, args.bulk_min_days)
    else:
        print(summary(args.as_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())

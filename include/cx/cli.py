"""Command line for the Makefile: run the pipeline through Airflow, print a summary.

    python -m cx.cli run --from 2024-01-01 --to 2024-03-31
    python -m cx.cli summary [--as-of 2024-03-31]

`run` drives `airflow dags test cx_daily` (the embedded, single-machine way of
running DAGs), through cx.runner.dagtest so the runs show in the Airflow UI with
their real durations and a log per task (docs/running.md). A range longer than
CX_BULK_MIN_DAYS days is one bulk run (one ingest, one dbt build, models once),
shorter ranges are one run per day, exactly like the schedule. Each run is judged from Airflow's record of it (task-instance
states and the tasks' returned summaries, cx.runner), one `run` at a time per
warehouse, and its `dags test` dies with it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cx.config import PUBLISHED_TABLES, Settings, load_settings
from cx.errors import ConfigurationError


def effective_start_date(run_date: date, configured: date) -> date:
    """The DAG start date the `dags test` of ``run_date`` runs with.

    Airflow creates no task instance for a logical date before the DAG's start date
    (the run then "succeeds" having done nothing), so a run of an earlier day starts
    the DAG at that day; the scheduler's start date (CX_START_DATE) is unchanged.
    """
    return min(run_date, configured)


def dag_test(
    run_date: date,
    range_start: date | None = None,
    settings: Settings | None = None,
    extra_args: tuple[str, ...] = (),
    dag_id: str = "cx_daily",
) -> float:
    """One cx_daily run through `airflow dags test`, judged from Airflow's record of it
    (task-instance states and returned summaries); raises SystemExit unless it did its work."""
    from cx.runner.dagtest import STARTED_AT_ENV
    from cx.runner.process import log_path, run_tied
    from cx.runner.record import find_run
    from cx.runner.verdict import judge, log_errors, task_errors

    settings = settings or load_settings()
    conf = {"range_start": range_start.isoformat()} if range_start else {}
    # Airflow's `dags test` through cx.runner.dagtest: the run starts when it is started
    # here, and each task's log lands where the UI reads it.
    command = [
        sys.executable,
        "-m",
        "cx.runner.dagtest",
        dag_id,
        run_date.isoformat(),
        "-c",
        json.dumps(conf),
        *extra_args,
    ]
    label = f"{range_start}..{run_date} (bulk)" if range_start else str(run_date)
    start_date = effective_start_date(range_start or run_date, settings.start_date)
    print(f"==> {dag_id} {label}", flush=True)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    created_after = started_at - timedelta(seconds=5)
    env = {**os.environ, "CX_START_DATE": start_date.isoformat(), STARTED_AT_ENV: started_at.isoformat()}
    log = log_path(settings.artifacts_dir / "run_logs", run_date, dag_id)
    with open(log, "w") as log_file:
        returncode = run_tied(command, log_file, env, split=True)
    elapsed = time.monotonic() - started
    record = find_run(run_date, created_after, dag_id)
    log_text = log.read_text(errors="replace")
    errors = task_errors(log_text)
    verdict = judge(
        record.tasks if record else [],
        errors,
        record.state if record else None,
        start_date_hint=f"run day {run_date}, DAG start date {start_date}",
    )
    if record is None:
        verdict.problems = [
            f"`airflow dags test` recorded no run of {run_date} (exit {returncode})",
            *log_errors(log_text),
        ]
        verdict.ok = False
    elif returncode != 0 and verdict.ok:
        verdict.problems.append(f"`airflow dags test` exited {returncode}")
        verdict.ok = False
    if record is not None:
        print(stage_report(record.tasks, log_text), flush=True)
    for line in verdict.skipped:
        print(f"    skipped: {line}", flush=True)
    if not verdict.ok:
        problems = "\n".join(f"  - {p}" for p in verdict.problems)
        raise SystemExit(f"{dag_id} {label} FAILED after {elapsed:.0f}s:\n{problems}\nfull log: {log}")
    print(f"    ok in {elapsed:.0f}s (log: {log})", flush=True)
    return elapsed


def stage_report(tasks: list, log_text: str = "") -> str:
    from cx.runner.summary import dbt_totals, format_stages

    return format_stages(tasks, dbt_totals(log_text))


def run_range(start: date, end: date, bulk_min_days: int | None = None, wait: bool = True) -> None:
    from cx.runner.process import exclusive
    from cx.runner.record import dag_unpaused

    if start > end:
        raise SystemExit(f"--from {start} is after --to {end}")
    settings = load_settings()
    bulk_min_days = bulk_min_days or settings.bulk_min_days
    if start < settings.start_date and dag_unpaused():
        raise SystemExit(
            f"not started: {start} is before cx_daily's start date {settings.start_date} (CX_START_DATE), and "
            "cx_daily is unpaused in this Airflow. `cx run` would start the DAG earlier for its own runs, and a "
            f"scheduler could then catch up from {start}. Pause cx_daily (`airflow dags pause cx_daily`) or set "
            f"CX_START_DATE={start} for the scheduler too."
        )
    # One `cx run` per Airflow metadata DB and per warehouse: `dags test` replaces any
    # run of the same day (another invocation's included), and runs of consecutive days
    # would interleave their warehouse steps (a `dags test` run does not wait for others).
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    timeout = None if wait else 0
    with (
        exclusive(airflow_home / "cx_run.lock", f"the Airflow metadata DB in {airflow_home}", timeout_s=timeout),
        exclusive(
            settings.warehouse.with_name(settings.warehouse.name + ".run.lock"),
            f"the warehouse {settings.warehouse}",
            timeout_s=timeout,
        ),
    ):
        days = (end - start).days + 1
        if days >= bulk_min_days:
            dag_test(end, range_start=start, settings=settings)
            return
        for offset in range(days):
            dag_test(start + timedelta(days=offset), settings=settings)


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
            "where as_of_date = ? order by model, metric",
            [as_of],
        ).fetchall():
            base = "" if baseline is None else f"  baseline {baseline:.4g}"
            verdict = "" if passed is None else ("  PASS" if passed else "  below baseline")
            shown = "n/a" if value is None else f"{value:.4g}"
            lines.append(f"  {model:16s} {metric:34s} {shown:>10}{base}{verdict}  [{version}]")
        lines.append("\nData quality (this run)")
        for severity, total, failed in con.execute(
            "select severity, count(*), count(*) filter (where success = false) from main.dq_results "
            "where as_of_date = ? group by severity order by severity",
            [as_of],
        ).fetchall():
            lines.append(f"  {severity:10s} {total:4d} checks, {failed} failed")
        lines.append("\nQuarantine by source and reason (all days)")
        for source, reason, n in con.execute(
            "select source, reason, count(*) from main.quarantine group by all order by source, 3 desc"
        ).fetchall():
            lines.append(f"  {source:16s} {reason[:60]:60s} {n:>8,}")
        unbalanced = con.execute("select count(*) from main.reconciliation where not is_balanced").fetchone()[0]
        lines.append(
            f"\nReconciliation: landing rows = clean + quarantined on every source/day: "
            f"{'yes' if unbalanced == 0 else f'NO ({unbalanced} unbalanced)'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cx", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run cx_daily through Airflow over a range of extraction days")
    run.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    run.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    run.add_argument(
        "--bulk-min-days",
        type=int,
        default=None,
        help="ranges at least this long load in one bulk run (default: CX_BULK_MIN_DAYS, 3)",
    )
    run.add_argument(
        "--no-wait", action="store_true", help="refuse, instead of waiting, when another `cx run` uses the warehouse"
    )
    run.add_argument(
        "--die-with-parent",
        action="store_true",
        help="stop when the parent process dies (make run: kill -9 of make stops the run)",
    )
    show = sub.add_parser("summary", help="print rows, model metrics and data-quality results")
    show.add_argument("--as-of", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            if args.die_with_parent:
                from cx.runner.process import die_with_parent

                die_with_parent(signal.SIGTERM)
            run_range(args.start, args.end, args.bulk_min_days, wait=not args.no_wait)
        else:
            print(summary(args.as_of))
    except ConfigurationError as error:  # a bad setting: its message, not a stack trace
        raise SystemExit(f"configuration error: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())

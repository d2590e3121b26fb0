"""Wall time of the dbt stage (ingest + ``dbt build``) for ONE incremental day, by the
amount of history already loaded.

Run::

    .venv/bin/python bench/dbt_history.py [--histories 30 180 720] [--customers 2000] [--repeats 3]

One warehouse grows through the history lengths: days 1..30 in one bulk run (ingest
+ dbt build over the range, as the initial load does), then days 31..180 and
181..720 as further range runs (re-runs and backfills converge to the same state,
tests/test_warehouse.py). At each length N the warehouse is copied aside. Then, in
rounds over the lengths (so that other load on the machine hits all of them alike),
each copy is restored and the daily run of day N+1 is timed (ingest of the day +
``dbt build`` with run_from = run_to = day N+1, data and unit tests included).
Reported: the median wall time and the median
CPU time (this process + the dbt child; steadier than wall time on a busy machine),
with their ratio to the shortest history. The daily run must stay incremental: the
720-day wall time may not exceed 1.5x the 30-day one (the script exits 1 if it does).

The landing zone comes from ``cx.generate`` (seeded, with its usual defects) and is
generated once under ``--workdir`` and reused while its arguments stay the same.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

LIMIT = 1.5


def _generate(landing: Path, start: date, days: int, customers: int, seed: int) -> None:
    from cx.generate import generate

    wanted = {"start": start.isoformat(), "days": days, "customers": customers, "seed": seed}
    manifest = landing / "_manifest.json"
    if manifest.exists():
        args = json.loads(manifest.read_text())["args"]
        if {k: args.get(k) for k in wanted} == wanted:
            return
    print(f"generating {days} days for {customers} customers under {landing} ...", flush=True)
    generate(landing, start, days, customers=customers, seed=seed, overwrite=True)


def _cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _stage(run_from: date, run_to: date) -> tuple[float, float]:
    """Ingest + dbt build of [run_from, run_to]; (wall, CPU) seconds."""
    from cx.config import load_settings
    from cx.ingest import ingest_range
    from cx.transform import build
    from cx.warehouse import connect

    settings = load_settings()
    started, cpu = time.perf_counter(), _cpu()
    with connect(settings) as con:
        ingest_range(con, settings.landing_dir, run_from, run_to)
    build(run_from, run_to, settings)
    return time.perf_counter() - started, _cpu() - cpu


def _copy(source: Path, target: Path) -> None:
    """Copy a warehouse file and flush it to disk, so the timed run does not pay for
    the write-back of a large copy (which made longer histories look slower)."""
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("landing.web_events", "landing.order_items", "marts.fct_orders", "marts.fct_interactions")
        }
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--histories", type=int, nargs="+", default=[30, 180, 720])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 1))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cx-bench-dbt"))
    parser.add_argument("--keep", action="store_true", help="keep the warehouse copies (for profiling)")
    args = parser.parse_args(argv)

    histories = sorted(set(args.histories))
    landing = args.workdir / "landing"
    _generate(landing, args.start, max(histories) + 1, args.customers, args.seed)
    os.environ["CX_LANDING_DIR"] = str(landing)

    warehouse = args.workdir / "warehouse" / "cx.duckdb"
    shutil.rmtree(warehouse.parent, ignore_errors=True)
    warehouse.parent.mkdir(parents=True)
    os.environ["CX_WAREHOUSE"] = str(warehouse)

    # Load the histories one after the other into the same warehouse, keeping a copy
    # of each state.
    snapshots: dict[int, Path] = {}
    loaded_to = args.start - timedelta(days=1)
    for n in histories:
        last = args.start + timedelta(days=n - 1)
        wall, _ = _stage(loaded_to + timedelta(days=1), last)
        loaded_to = last
        snapshots[n] = warehouse.with_name(f"history_{n}.duckdb")
        _copy(warehouse, snapshots[n])
        print(f"  loaded {n} days of history in {wall:.1f}s", flush=True)

    # Time day N+1 on each history, round-robin, so that load from other processes on
    # the machine hits every history alike.
    walls: dict[int, list[float]] = {n: [] for n in histories}
    cpus: dict[int, list[float]] = {n: [] for n in histories}
    rows: dict[int, dict[str, int]] = {}
    for _ in range(args.repeats):
        for n in histories:
            _copy(snapshots[n], warehouse)
            day = args.start + timedelta(days=n)
            wall, cpu = _stage(day, day)
            walls[n].append(wall)
            cpus[n].append(cpu)
            rows[n] = _rows(warehouse)
            print(f"  history {n:4d} days: one day {wall:.1f}s wall, {cpu:.1f}s cpu", flush=True)
    if not args.keep:
        shutil.rmtree(warehouse.parent, ignore_errors=True)
    results = [(n, statistics.median(walls[n]), statistics.median(cpus[n]), rows[n]) for n in histories]

    base_wall, base_cpu = results[0][1], results[0][2]
    print(
        f"\ndbt stage (ingest + dbt build, data and unit tests included) for one day; "
        f"{args.customers} customers, median of {args.repeats}"
    )
    print(
        f"{'history':>8} {'web_events':>11} {'order_items':>12} {'one day wall s':>15} {'x':>6} "
        f"{'one day cpu s':>14} {'x':>6}"
    )
    for n, wall, cpu, counts in results:
        print(
            f"{n:>8} {counts['landing.web_events']:>11,} {counts['landing.order_items']:>12,} {wall:>15.1f} "
            f"{wall / base_wall:>6.2f} {cpu:>14.1f} {cpu / base_cpu:>6.2f}"
        )
    worst = results[-1][1] / base_wall
    verdict = "OK" if worst <= LIMIT else "TOO SLOW"
    print(f"\n{histories[-1]} vs {histories[0]} days, wall: {worst:.2f}x (limit {LIMIT}x): {verdict}")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())

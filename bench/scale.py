"""How big can it go: wall time and peak memory of every pipeline stage at 10k, 100k
and 1M customers, one year of proportional data each.

Run::

    .venv/bin/python bench/scale.py --sizes 10k,100k,1M --out bench/results/scale.csv

For each size the landing zone is generated once with ``cx.generate`` (seeded, with
its usual defects) under ``<root>/<size>/landing`` — 366 days from ``--start`` at the
same per-customer rates at every size (``--activity``, default 0.2: about 3 orders,
7-8 order lines, ~55 web events, ~1 review and ~0.3 tickets per customer and year) —
and reused while its arguments stay the same. Then, on a fresh warehouse:

- ``initial_ingest`` + ``initial_dbt``: the initial bulk load of the first 365 days
  (``cx.pipeline.load_landing`` and ``cx.transform.build`` over the range);
- ``day_ingest`` + ``day_dbt``: one incremental day (day 366) on top of it;
- ``validate``: the Great Expectations checkpoint for that day
  (``cx.quality.checkpoint.run``);
- ``sentiment``, ``segmentation``, ``recommendations``, ``forecast``, ``retention``:
  each model stage's ``run(as_of)``;
- ``publish``: ``cx.airflow_support.publish_run``.

The stages run WITHOUT Airflow: each calls the same function the ``cx_daily`` task
calls, in DAG order, so the figures are the work itself without the scheduler's
overhead (task start-up, Cosmos rendering, sensors). Each stage runs in its own
child process; its peak memory is the kernel's maximum resident set size of that
process tree (``os.wait4``: the largest single process, which includes DuckDB since
it runs in-process — dbt runs in a grandchild) and, sampled every 0.2 s, the peak
sum over the whole tree. ``seconds`` is the wall time of the function call alone
(interpreter start-up and imports excluded); ``cpu_s`` is user + system CPU of
the tree, so ``cpu_s`` well above ``seconds`` means both cores worked, and well below
means the machine was busy with something else (the 1-minute load average at the
start of each stage is recorded too).

Settings point at ``<root>/<size>/`` through the environment (CX_LANDING_DIR,
CX_WAREHOUSE, CX_ARTIFACTS_DIR; dbt's target/ and logs go to ``<root>/<size>/dbt``
via DBT_TARGET_PATH / DBT_LOG_PATH, so the project's own target/ is left alone).
The table is printed and written to ``--out`` (CSV, one row per size and stage, plus
the totals ``initial_load``, ``daily_run`` and ``initial_plus_daily``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
STAGES = (
    "initial_ingest",
    "initial_dbt",
    "day_ingest",
    "day_dbt",
    "validate",
    "sentiment",
    "segmentation",
    "recommendations",
    "forecast",
    "retention",
    "publish",
)
DAILY = tuple(stage for stage in STAGES if not stage.startswith("initial_"))
BULK_DAYS = 365  # the initial load; the landing zone holds one more day for the incremental run
COLUMNS = (
    "size",
    "customers",
    "stage",
    "seconds",
    "cpu_s",
    "peak_rss_mb",
    "peak_tree_mb",
    "load_1m",
    "rows",
    "details",
)


@dataclass
class Row:
    size: str
    customers: int
    stage: str
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    peak_tree_mb: float
    load_1m: float
    rows: int | None = None
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- stages (child side)


def _settings_env(size_dir: Path) -> dict[str, str]:
    return {
        "CX_DATA_DIR": str(size_dir),
        "CX_LANDING_DIR": str(size_dir / "landing"),
        "CX_WAREHOUSE": str(size_dir / "warehouse" / "cx.duckdb"),
        "CX_ARTIFACTS_DIR": str(size_dir / "artifacts"),
        "DBT_TARGET_PATH": str(size_dir / "dbt" / "target"),
        "DBT_LOG_PATH": str(size_dir / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def _count(tables: list[str]) -> dict[str, int]:
    """Rows of warehouse tables (read after the measured call)."""
    from cx.warehouse import connect, table_exists

    out: dict[str, int] = {}
    with connect() as con:
        for name in tables:
            schema, table = name.split(".")
            if table_exists(con, table, schema):
                out[name] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    return out


def run_stage(stage: str, start: date, day: date, customers: int, activity: float, seed: int) -> dict:
    """One stage, as the DAG task runs it; returns its wall seconds, rows and details."""
    from cx.config import load_settings

    settings = load_settings()
    bulk_end = day - timedelta(days=1)
    if stage == "generate":
        from cx.generate import generate

        began = time.perf_counter()
        manifest = generate(
            settings.landing_dir, start, BULK_DAYS + 1, customers, seed=seed, activity=activity, overwrite=True
        )
        seconds = time.perf_counter() - began
        totals = manifest.totals
        return {"seconds": seconds, "rows": totals["records"], "details": totals["records_by_source"]}
    if stage in ("initial_ingest", "day_ingest"):
        from cx.pipeline import RunWindow, load_landing

        window = RunWindow(start, bulk_end) if stage == "initial_ingest" else RunWindow(day, day)
        began = time.perf_counter()
        summary = load_landing(window, settings)
        seconds = time.perf_counter() - began
        return {
            "seconds": seconds,
            "rows": sum(s["rows"] for s in summary.values()),
            "details": {s: v["rows"] for s, v in summary.items()},
        }
    if stage in ("initial_dbt", "day_dbt"):
        from cx.transform import build

        run_from, run_to = (start, bulk_end) if stage == "initial_dbt" else (day, day)
        began = time.perf_counter()
        build(run_from, run_to, settings)
        seconds = time.perf_counter() - began
        counts = _count(
            [
                "staging.stg_web_events",
                "intermediate.int_web_events__stitched",
                "marts.fct_orders",
                "marts.fct_interactions",
                "marts.customer_features",
            ]
        )
        return {"seconds": seconds, "rows": counts.get("intermediate.int_web_events__stitched"), "details": counts}
    if stage == "validate":
        from cx.quality.checkpoint import run

        began = time.perf_counter()
        summary = run(day, day, settings)
        seconds = time.perf_counter() - began
        return {"seconds": seconds, "rows": None, "details": _compact(summary)}
    if stage in ("sentiment", "segmentation", "recommendations", "forecast", "retention"):
        import importlib

        module = {"recommendations": "recommend"}.get(stage, stage)  # the rest: cx.models.<stage>
        run = importlib.import_module(f"cx.models.{module}").run
        began = time.perf_counter()
        summary = run(day, settings)
        seconds = time.perf_counter() - began
        rows = summary.get("rows") if isinstance(summary, dict) else None
        return {"seconds": seconds, "rows": rows if isinstance(rows, int) else None, "details": _compact(summary)}
    if stage == "publish":
        from cx.airflow_support import publish_run

        began = time.perf_counter()
        counts = publish_run(day)
        seconds = time.perf_counter() - began
        return {"seconds": seconds, "rows": counts.get("dim_customers"), "details": counts}
    raise ValueError(f"unknown stage {stage!r}")


def _compact(value: object, limit: int = 400) -> object:
    """A summary small enough for one CSV cell."""
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- measuring (parent side)


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measure(stage: str, size: str, customers: int, size_dir: Path, args: argparse.Namespace) -> Row:
    """Run one stage in a child process; wall, CPU and peak memory of its process tree."""
    result_path = size_dir / f".stage_{stage}.json"
    result_path.unlink(missing_ok=True)
    env = {**os.environ, **_settings_env(size_dir), **args.env}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "include"), env.get("PYTHONPATH", "")]))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_stage",
        stage,
        "--result",
        str(result_path),
        "--start",
        args.start.isoformat(),
        "--customers",
        str(customers),
        "--activity",
        str(args.activity),
        "--seed",
        str(args.seed),
    ]
    load = os.getloadavg()[0]
    log_path = size_dir / f"stage_{stage}.log"
    with open(log_path, "w") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(child.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 or not result_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"{size} {stage} failed (exit {child.returncode}); log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return Row(
        size=size,
        customers=customers,
        stage=stage,
        seconds=round(result["seconds"], 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        peak_tree_mb=round(max(peak[0], usage.ru_maxrss * 1024) / 2**20, 1),
        load_1m=round(load, 2),
        rows=result.get("rows"),
        details=result.get("details") or {},
    )


def _landing_matches(landing: Path, start: date, customers: int, activity: float, seed: int) -> bool:
    manifest = landing / "_manifest.json"
    if not manifest.exists():
        return False
    got = json.loads(manifest.read_text())["args"]
    want = {
        "start": start.isoformat(),
        "days": BULK_DAYS + 1,
        "customers": customers,
        "seed": seed,
        "activity": activity,
    }
    return {k: got.get(k, 1.0 if k == "activity" else None) for k in want} == want


def _total(rows: list[Row], size: str, customers: int, name: str, stages: tuple[str, ...]) -> Row:
    picked = [r for r in rows if r.stage in stages]
    return Row(
        size=size,
        customers=customers,
        stage=name,
        seconds=round(sum(r.seconds for r in picked), 2),
        cpu_s=round(sum(r.cpu_s for r in picked), 1),
        peak_rss_mb=max(r.peak_rss_mb for r in picked),
        peak_tree_mb=max(r.peak_tree_mb for r in picked),
        load_1m=max(r.load_1m for r in picked),
        details={"stages": list(stages)},
    )


def bench_size(size: str, args: argparse.Namespace, write_row) -> list[Row]:
    customers = SIZES[size]
    size_dir = args.root / size
    size_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    if args.regenerate or not _landing_matches(size_dir / "landing", args.start, customers, args.activity, args.seed):
        print(f"[{size}] generating {BULK_DAYS + 1} days for {customers:,} customers ...", flush=True)
        row = measure("generate", size, customers, size_dir, args)
        row.details = {**row.details, "measured_at": time.strftime("%Y-%m-%d %H:%M")}
        (size_dir / "generate.json").write_text(json.dumps(asdict(row)))
        print(f"[{size}] generate {row.seconds:.0f}s, {row.rows:,} records, peak {row.peak_rss_mb:,.0f} MB", flush=True)
    else:
        print(f"[{size}] reusing the landing zone in {size_dir / 'landing'}", flush=True)
        saved = size_dir / "generate.json"
        row = Row(**json.loads(saved.read_text())) if saved.exists() else None
    if row is not None:  # the generator's figures, from when it last ran for these arguments
        rows.append(row)
        write_row(row)
    if not args.keep_warehouse:  # a fresh warehouse and artifacts: the initial load starts from nothing
        for path in (size_dir / "warehouse", size_dir / "artifacts", size_dir / "dbt"):
            shutil.rmtree(path, ignore_errors=True)
    for stage in STAGES:
        if stage not in args.stages:
            continue
        row = measure(stage, size, customers, size_dir, args)
        rows.append(row)
        write_row(row)
        print(
            f"[{size}] {stage:16s} {row.seconds:8.1f}s  cpu {row.cpu_s:7.1f}s  peak {row.peak_rss_mb:8,.0f} MB "
            f"(tree {row.peak_tree_mb:8,.0f} MB)  load {row.load_1m:.1f}",
            flush=True,
        )
    done = {r.stage for r in rows}
    for name, stages in (
        ("initial_load", ("initial_ingest", "initial_dbt")),
        ("daily_run", DAILY),
        ("initial_plus_daily", ("initial_ingest", "initial_dbt", *DAILY)),
    ):
        if set(stages) <= done:
            row = _total(rows, size, customers, name, stages)
            rows.append(row)
            write_row(row)
    warehouse = size_dir / "warehouse" / "cx.duckdb"
    if warehouse.exists():
        print(f"[{size}] warehouse file: {warehouse.stat().st_size / 2**20:,.0f} MB", flush=True)
    return rows


def read_rows(paths: list[Path]) -> list[Row]:
    merged: dict[tuple[str, str], Row] = {}
    for path in paths:
        with open(path, newline="") as handle:
            for rec in csv.DictReader(handle):
                row = Row(
                    size=rec["size"],
                    customers=int(rec["customers"]),
                    stage=rec["stage"],
                    seconds=float(rec["seconds"]),
                    cpu_s=float(rec["cpu_s"]),
                    peak_rss_mb=float(rec["peak_rss_mb"]),
                    peak_tree_mb=float(rec["peak_tree_mb"]),
                    load_1m=float(rec["load_1m"]),
                    rows=int(rec["rows"]) if rec["rows"] else None,
                    details=json.loads(rec["details"] or "{}"),
                )
                merged[(row.size, row.stage)] = row
    return list(merged.values())


def print_table(rows: list[Row]) -> None:
    sizes = [s for s in SIZES if any(r.size == s for r in rows)]
    order = ["generate", *STAGES, "initial_load", "daily_run", "initial_plus_daily"]
    by = {(r.size, r.stage): r for r in rows}
    head = f"{'stage':20s}" + "".join(f"{s + ' s':>10s}{s + ' MB':>11s}" for s in sizes)
    print("\n" + head + "\n" + "-" * len(head))
    for stage in order:
        cells = []
        for s in sizes:
            r = by.get((s, stage))
            cells.append(f"{r.seconds:10.1f}{r.peak_tree_mb:11,.0f}" if r else f"{'-':>10s}{'-':>11s}")
        if any(c.strip(" -") for c in cells):
            print(f"{stage:20s}" + "".join(cells))
    print("(seconds: wall time of the stage's function; MB: peak resident memory of its process tree)")
    if "100k" in sizes and "1M" in sizes:
        for stage in ("day_ingest", "day_dbt"):
            a, b = by.get(("100k", stage)), by.get(("1M", stage))
            if a and b and a.seconds > 0 and a.cpu_s > 0:
                print(f"{stage}: 1M / 100k = {b.seconds / a.seconds:.2f}x wall, {b.cpu_s / a.cpu_s:.2f}x CPU")
        a = [by.get(("100k", s)) for s in ("day_ingest", "day_dbt")]
        b = [by.get(("1M", s)) for s in ("day_ingest", "day_dbt")]
        if all(a) and all(b):
            ratio = sum(r.seconds for r in b) / sum(r.seconds for r in a)
            print(f"incremental day (ingest + dbt): 1M / 100k = {ratio:.2f}x (target <= 3x)")
    if ("1M", "initial_dbt") not in by and "10k" in sizes and "100k" in sizes:
        print_extrapolation(by)
    total = by.get(("1M", "initial_plus_daily"))
    if total:
        print(
            f"1M initial load + daily run: {total.seconds / 60:.1f} min (target < 30), peak "
            f"{total.peak_tree_mb / 1024:.1f} GB (target < 16)"
        )


def print_extrapolation(by: dict[tuple[str, str], Row]) -> None:
    """1M figures ESTIMATED from 10k and 100k: CPU seconds linear in customers.

    cost(n) = a + b * n through the two measured points, so fixed costs (start-up,
    per-file work, dbt's tests on small tables) stay fixed. CPU seconds are used because
    they do not depend on what else the machine runs; the wall time of a stage lies
    between CPU / 2 (both cores busy all along) and CPU (one core). Stages that grow
    faster than the data (all customers times all products) are underestimated.
    """
    print("\n1M ESTIMATED (not measured): CPU seconds extrapolated linearly from 10k and 100k")
    print(f"{'stage':20s}{'10k cpu':>10s}{'100k cpu':>10s}{'1M cpu est':>12s}{'1M wall est':>16s}")
    for stage in ("generate", *STAGES, "initial_load", "daily_run", "initial_plus_daily"):
        a, b = by.get(("10k", stage)), by.get(("100k", stage))
        if not (a and b):
            continue
        slope = (b.cpu_s - a.cpu_s) / (b.customers - a.customers)
        est = max(b.cpu_s + slope * (SIZES["1M"] - b.customers), b.cpu_s)
        print(f"{stage:20s}{a.cpu_s:10.0f}{b.cpu_s:10.0f}{est:12.0f}{f'{est / 2:.0f}-{est:.0f} s':>16s}")


def _env_pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--env {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_stage"]:  # child: one stage
        p = argparse.ArgumentParser()
        p.add_argument("stage")
        p.add_argument("--result", type=Path, required=True)
        p.add_argument("--start", type=date.fromisoformat, required=True)
        p.add_argument("--customers", type=int, required=True)
        p.add_argument("--activity", type=float, required=True)
        p.add_argument("--seed", type=int, required=True)
        a = p.parse_args(argv[1:])
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        day = a.start + timedelta(days=BULK_DAYS)
        result = run_stage(a.stage, a.start, day, a.customers, a.activity, a.seed)
        a.result.write_text(json.dumps(result, default=str))
        return 0

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1M", help="comma-separated among " + ", ".join(SIZES))
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.csv")
    p.add_argument("--root", type=Path, default=Path("/tmp/scale"), help="scratch space: landing zones, warehouses")
    p.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    p.add_argument(
        "--activity",
        type=float,
        default=0.2,
        help="generator activity level, the same at every size (per-customer rates)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ", ".join(STAGES))
    p.add_argument("--regenerate", action="store_true", help="generate the landing zones even when they match")
    p.add_argument(
        "--keep-warehouse",
        action="store_true",
        help="re-measure --stages on the warehouse an earlier run left (default: start from nothing)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the stages (e.g. CX_DUCKDB_MEMORY_LIMIT=12GB); repeatable",
    )
    p.add_argument(
        "--table",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="only print the table of earlier results (several CSVs are merged, later rows win)",
    )
    args = p.parse_args(argv)
    if args.table:
        print_table(read_rows(args.table))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        p.error(f"unknown sizes {unknown}; choose among {', '.join(SIZES)}")
    args.stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    if args.stages - set(STAGES):
        p.error(f"unknown stages {sorted(args.stages - set(STAGES))}")
    # Both cores for DuckDB; a memory limit that leaves room for Python next to it.
    args.env = {"CX_DUCKDB_THREADS": str(os.cpu_count() or 2), "CX_DUCKDB_MEMORY_LIMIT": "10GB", **_env_pairs(args.env)}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    all_rows: list[Row] = []
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()

        def write_row(row: Row) -> None:
            record = asdict(row)
            record["details"] = json.dumps(record["details"], default=str, sort_keys=True)
            writer.writerow(record)
            handle.flush()

        for size in sizes:
            all_rows += bench_size(size, args, write_row)
    print_table(all_rows)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time the validation stage (Great Expectations) for one day of the default demo data.

    .venv/bin/python bench/validation_day.py                  # generate + build once, then time
    .venv/bin/python bench/validation_day.py --day 2024-10-15 --repeats 5

Builds (once, reused afterwards) the default demo landing zone (2024-09-01, 90 days,
3000 customers, seed 42) under ``--workdir`` and its warehouse with cx.ingest +
cx.transform (dbt), then runs each validation stage for ``--day`` in a fresh Python
process, as the Airflow task does: the wall time includes importing Great Expectations,
reading the run's partition, validating, Data Docs and writing dq_results. The
``inputs`` stage is the gate before the model stages (target: under 30 s); the
``published`` stage runs after publish (here with whatever model outputs exist).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, DAYS, CUSTOMERS, SEED = date(2024, 9, 1), 90, 3000, 42

STAGE_SCRIPT = """
import json, sys, time
from datetime import date
started = time.perf_counter()
from cx.quality.checkpoint import DataQualityError, run
day, stage = date.fromisoformat(sys.argv[1]), sys.argv[2]
try:
    summary = run(day, day, stage=stage)
except DataQualityError as error:
    summary = {"critical_failure": str(error)}
summary["process_seconds"] = round(time.perf_counter() - started, 2)
print("RESULT " + json.dumps(summary, default=str))
"""


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CX_LANDING_DIR": str(workdir / "landing"),
        "CX_WAREHOUSE": str(workdir / "wh.duckdb"),
        "CX_ARTIFACTS_DIR": str(workdir / "artifacts"),
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(ROOT / "include"),
    }


def build(workdir: Path) -> None:
    env = _env(workdir)
    if not (workdir / "landing" / "_manifest.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cx.generate",
                "--out",
                str(workdir / "landing"),
                "--start",
                START.isoformat(),
                "--days",
                str(DAYS),
                "--customers",
                str(CUSTOMERS),
                "--seed",
                str(SEED),
                "--quiet",
                "--overwrite",
            ],
            check=True,
            env=env,
        )
    if not (workdir / "wh.duckdb").exists():
        began = time.perf_counter()
        code = (
            "from datetime import date, timedelta\n"
            "from cx.config import load_settings\nfrom cx.ingest import ingest_range\n"
            "from cx.transform import build\nfrom cx.publish import publish\nfrom cx.warehouse import connect\n"
            f"start = date.fromisoformat('{START}'); end = start + timedelta(days={DAYS - 1})\n"
            "s = load_settings()\n"
            "with connect(s) as con:\n    ingest_range(con, s.landing_dir, start, end)\n"
            "build(start, end, s)\n"
            "with connect(s) as con:\n    publish(con, end)\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        print(f"built the warehouse in {time.perf_counter() - began:.0f}s")


def time_stage(workdir: Path, day: date, stage: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", STAGE_SCRIPT, day.isoformat(), stage],
        env=_env(workdir),
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the stage's process: what the wall time is on an idle machine (the
    # stage is single-threaded but for DuckDB reads), and independent of other load.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return {**json.loads(line[len("RESULT ") :]), "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gx"))
    parser.add_argument("--day", type=date.fromisoformat, default=date(2024, 11, 29))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", default="inputs,published")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    build(args.workdir)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(
        f"validation stage for {args.day} ({CUSTOMERS} customers, {DAYS} days, seed {SEED}); "
        f"{os.cpu_count()} cores, load average {load:.1f} at start"
    )
    failed = False
    for stage in args.stages.split(","):
        runs = [time_stage(args.workdir, args.day, stage) for _ in range(args.repeats)]
        walls = [r["wall_seconds"] for r in runs]
        cpus = [r["cpu_seconds"] for r in runs]
        last = runs[-1]
        if "critical_failure" in last:
            print(f"  {stage}: CRITICAL FAILURE\n{last['critical_failure']}")
            failed = True
            continue
        s = last["seconds"]
        print(
            f"  {stage:9s} wall median {statistics.median(walls):5.1f}s "
            f"(runs: {', '.join(f'{w:.1f}' for w in walls)}), "
            f"CPU median {statistics.median(cpus):5.1f}s (runs: {', '.join(f'{c:.1f}' for c in cpus)}); "
            f"last run: read {s['read']}s, GX import+context {s['gx_context']}s, validate {s['validate']}s, "
            f"docs {s['docs']}s, process start {last['wall_seconds'] - s['total']:.1f}s; "
            f"{last['suites']} suites, {last['evaluated']} checks evaluated, {last['skipped']} skipped, "
            f"{last['by_severity']['critical']['failed']} critical / {last['by_severity']['warning']['failed']} "
            "warning failures"
        )
        for warning in last["warnings"]:
            print(f"      warning: {warning}")
        if stage == "inputs":
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            print(
                f"      target < 30 s for the inputs stage: wall {'OK' if wall < 30 else 'OVER'}, "
                f"CPU {'OK' if cpu < 30 else 'OVER'} (with other load the CPU figure is the fair one)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

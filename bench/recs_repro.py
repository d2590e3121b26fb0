"""Is the recommendations stage reproducible, and what does it cost? (issue 23)

Reads the stage's inputs from a warehouse (read-only: use a copy while a run holds
the lock), runs the pure core ``cx.models.recommend.recommend`` several times, each
on the rows in another random order with another ``num_threads``, and prints per run
its wall and CPU seconds, the holdout p@10 against the best baseline, and how many of
the published list positions (customer, rank) differ from the first run's, and how
many scores differ by more than 1e-9.

    .venv/bin/python bench/recs_repro.py --warehouse /tmp/copy.duckdb --as-of 2024-11-29
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from datetime import date

import duckdb
import pandas as pd

from cx.config import load_settings
from cx.models import recommend as rec
from cx.models.recommend._stage import _read_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--as-of", required=True, type=date.fromisoformat)
    parser.add_argument("--threads", default="2,1,2", help="num_threads of each run, comma-separated")
    args = parser.parse_args()

    con = duckdb.connect(args.warehouse, read_only=True)
    frames = _read_inputs(con, args.as_of)
    con.close()
    frames["interactions"]["occurred_at"] = pd.to_datetime(frames["interactions"]["occurred_at"])
    cfg = rec.RecommendConfig.from_settings(load_settings())
    first = None
    for i, threads in enumerate(int(t) for t in args.threads.split(",")):
        shuffled = {k: None if f is None else f.sample(frac=1.0, random_state=i) if i else f for k, f in frames.items()}
        wall, cpu = time.monotonic(), time.process_time()
        result = rec.recommend(
            shuffled["interactions"],
            shuffled["products"],
            shuffled["customers"],
            shuffled["segments"],
            args.as_of,
            replace(cfg, num_threads=threads),
        )
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        recs = result.recommendations.set_index(["customer_id", "rank"]).sort_index()
        if first is None:
            first = recs
        both = first.merge(recs, left_index=True, right_index=True, how="outer", suffixes=("_a", "_b"))
        moved = int((both["product_id_a"] != both["product_id_b"]).sum())
        scores = int(((both["score_a"] - both["score_b"]).abs() > 1e-9).sum())
        best = result.details["best_baseline"]
        print(
            f"run {i}: num_threads {threads}, rows {'shuffled' if i else 'as read'}: {wall:.1f} s wall, "
            f"{cpu:.1f} s CPU, {result.model_version}, p@10 {result.metrics['model'].get('precision', 0):.4f} "
            f"vs {best} {result.metrics[best].get('precision', 0):.4f}; positions changed vs run 0: "
            f"{moved} of {len(both)}, scores changed: {scores}; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

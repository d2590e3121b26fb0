"""Command line: ``python -m cx.generate --out DIR --start YYYY-MM-DD --days N --customers N --seed N``."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from cx.generate.core import SOURCES, generate


def _sources(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown sources {unknown}; choose from {', '.join(SOURCES)}")
    return names


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cx-generate",
        description="Generate a synthetic landing zone "
        "(seven sources, planted structure, injected defects recorded in _manifest.json).",
    )
    p.add_argument("--out", type=Path, required=True, help="landing directory to write")
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first extraction day, YYYY-MM-DD")
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--defects",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="inject defects (default) or write clean data",
    )
    p.add_argument("--defect-scale", type=float, default=1.0, help="multiply every defect rate")
    p.add_argument(
        "--activity",
        type=_positive,
        default=1.0,
        help="multiply every customer's order and browsing rates (default 1.0, about 16 orders and "
        "280 web events per customer and year; 0.2 is a typical shop: about 3.3 orders and 56 web events)",
    )
    p.add_argument(
        "--lapsers",
        type=float,
        default=0.0,
        help="share of regular buyers whose purchase rhythm stops late in the run (truth: _truth/lapsers.csv)",
    )
    p.add_argument("--sources", type=_sources, default=None, help="comma-separated subset of sources")
    p.add_argument("--overwrite", action="store_true", help="replace data generated earlier in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    began = time.perf_counter()
    manifest = generate(
        args.out,
        args.start,
        args.days,
        args.customers,
        seed=args.seed,
        defects=args.defects,
        defect_scale=args.defect_scale,
        sources=args.sources,
        progress=not args.quiet,
        overwrite=args.overwrite,
        activity=args.activity,
        lapsers=args.lapsers,
    )
    totals = manifest.totals
    print(
        f"wrote {totals['files']} files, {totals['records']} records to {args.out} in "
        f"{time.perf_counter() - began:.1f}s; defects: {totals['defects']}"
    )
    for source, n in totals["records_by_source"].items():
        print(f"  {source:16s} {n:>10d}")
    return 0

"""Rows that differ between two copies of the warehouse, per table of main and marts.

Reproducibility check of a day re-run (issue 23): copy the warehouse after a run,
re-run the same day, and compare. A row counts as changed when it is in one copy and
not in the other (multiset difference on every column), so a recommendation list whose
products moved counts once per moved position, and a re-scored review once.

    cp include/data/warehouse/cx.duckdb /tmp/a.duckdb
    make run FROM=2024-11-29 TO=2024-11-29
    .venv/bin/python bench/rerun_diff.py /tmp/a.duckdb include/data/warehouse/cx.duckdb
"""

from __future__ import annotations

import argparse
import sys

import duckdb


def table_diffs(a: str, b: str, schemas: tuple[str, ...] = ("main", "marts")) -> list[tuple[str, int, int, int]]:
    """(schema.table, rows in a, rows only in a, rows only in b) for every table or view
    both copies have."""
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    names = con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'a' "
        "union select schema_name, view_name from duckdb_views() where database_name = 'a' and not internal"
    ).fetchall()
    out = []
    for schema, table in sorted(names):
        if schema not in schemas:
            continue
        qa, qb = f'a."{schema}"."{table}"', f'b."{schema}"."{table}"'
        try:
            rows = con.execute(f"select count(*) from {qa}").fetchone()[0]
            only_a = con.execute(f"select count(*) from (from {qa} except all from {qb})").fetchone()[0]
            only_b = con.execute(f"select count(*) from (from {qb} except all from {qa})").fetchone()[0]
        except duckdb.Error as exc:  # a view over a database it cannot see from here
            print(f"{schema}.{table}: not compared ({str(exc).splitlines()[0]})", file=sys.stderr)
            continue
        out.append((f"{schema}.{table}", rows, only_a, only_b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--all", action="store_true", help="list unchanged tables too")
    args = parser.parse_args()
    diffs = table_diffs(args.a, args.b)
    print(f"{'table':45s} {'rows':>9s} {'only in a':>10s} {'only in b':>10s}")
    for name, rows, only_a, only_b in diffs:
        if args.all or only_a or only_b:
            print(f"{name:45s} {rows:9d} {only_a:10d} {only_b:10d}")
    changed = sum(1 for _, _, x, y in diffs if x or y)
    print(f"{changed} of {len(diffs)} tables differ")


if __name__ == "__main__":
    main()

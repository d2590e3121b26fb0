"""UCI "Online Retail" (by-day CSVs) -> landing zone (CONTRACT.md section 1).

Reads ``<src>/YYYY-MM-DD.csv`` (InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country) with DuckDB and writes
``<out>/<source>/<YYYY-MM-DD>/uci.csv`` for customers, products, orders and
order_items; the date folder is the day of the source file.

The importer maps columns and nothing more: guest lines, cancellations, zero or
negative prices, non-product stock codes (POST, M, BANK CHARGES...) and exact
duplicate lines all pass through, because cleaning them and counting what was
cleaned is the pipeline's job.

Mapping
-------
orders (one row per invoice and day)
    order_id = InvoiceNo; customer_id = CustomerID without its float suffix
    ('17850.0' -> '17850'; empty for guest checkouts); ordered_at = InvoiceDate as
    written (naive UK shop time); status = 'returned' for invoices starting with 'C'
    (credit notes for goods sent back, negative quantities), else 'delivered';
    channel = 'web'; currency = 'GBP'. InvoiceDate and CustomerID are taken from
    the invoice's first line (43 invoices straddle a minute boundary).
order_items (one row per source line, in file order)
    order_id, product_id = StockCode trimmed and upper-cased, quantity = Quantity,
    unit_price = UnitPrice, both as written.
customers
    customer_id, country = Country, updated_at = the day, signup_date empty. A row
    on the first day a customer appears, and again on a day their Country differs
    from the day they last appeared (the country of their first line that day).
products
    product_id, name, category, price, updated_at = the day. A row on the first day
    a stock code appears, and again on a day its description differs from the last
    non-empty one. The day's description is the one on most positive-price lines
    (then most lines, then first line): zero-price stock adjustments often carry
    notes such as 'damaged' or '?' instead of the product name. A day whose lines
    have no description at all re-delivers nothing. price = median positive
    UnitPrice of the code that day (empty if none).

    category: UCI has no categories, so a coarse one is derived from the
    description: it is split into words (runs of letters and hyphens), and the
    *last* word that names an item type in ``CATEGORY_KEYWORDS`` (uci_categories) decides (English
    descriptions end with the head noun: 'WHITE HANGING HEART T-LIGHT HOLDER' -> T-LIGHT ->
    candles_lighting; 'JUMBO BAG RED RETROSPOT' -> BAG -> bags_accessories).
    Generic words (HOLDER, SET, COVER, DESIGN) are deliberately absent so the scan
    falls back to the more telling word before them. Plurals match their singular.
    Postage, fees and manual adjustments get 'service'; no match gives 'other'.

History: whether a customer or product is "new" or "changed" on day D depends on
every earlier day, so all files up to ``end`` are read even when ``start`` is
later; a day's files are therefore identical whatever range produced them.
Re-running replaces each ``uci.csv`` atomically, and removes it from a day in the
range that no longer has rows for that source (or no source file), so imports are
idempotent; other files in the landing zone are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
from tqdm import tqdm

import cx
from cx.importers.uci_categories import CATEGORY_KEYWORDS as CATEGORY_KEYWORDS  # public: tests, docs
from cx.importers.uci_categories import DEFAULT_CATEGORY, keyword_rows

SOURCE_COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
LANDING_NAME = "uci.csv"
# The data set lives beside the repository (../shared/data), never inside it;
# CX_UCI_DIR points elsewhere (e.g. a clone in another place).
_SHARED_BY_DAY = Path("shared") / "data" / "uci_online_retail" / "by-day"


def _default_src() -> Path:
    """CX_UCI_DIR, else ``shared/data/...`` beside the repository or beside one of its
    parent folders (a git worktree nested one level deeper than the clone); when none
    exists, the ../shared path, for the error message."""
    from cx.config import load_settings

    configured = load_settings().uci_dir
    if configured is not None:
        return configured
    repo = Path(cx.__file__).resolve().parents[2]
    for parent in repo.parents:
        if (parent / _SHARED_BY_DAY).is_dir():
            return parent / _SHARED_BY_DAY
    return repo.parent / _SHARED_BY_DAY


DEFAULT_SRC = _default_src()
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv$")

# Columns written per landing source (contract names; optional ones UCI lacks are omitted).
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "country", "signup_date", "updated_at"),
    "products": ("product_id", "name", "category", "price", "updated_at"),
    "orders": ("order_id", "customer_id", "ordered_at", "status", "channel", "currency"),
    "order_items": ("order_id", "product_id", "quantity", "unit_price"),
}


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def day_files(src: Path, end: date | None = None) -> dict[date, Path]:
    """The by-day files of ``src`` up to ``end``, keyed by day; checks each file's header."""
    if not src.is_dir():
        raise FileNotFoundError(f"UCI by-day folder not found: {src}")
    files: dict[date, Path] = {}
    expected = ",".join(SOURCE_COLUMNS)
    for path in sorted(src.iterdir()):
        match = _DAY_FILE.match(path.name)
        if not match:
            continue
        day = date.fromisoformat(match.group(1))
        if end is not None and day > end:
            continue
        # The reader below trusts a fixed column order (fast, no sniffing), so verify it.
        with path.open(encoding="utf-8-sig") as fh:
            header = fh.readline().strip()
        if header != expected:
            raise ValueError(f"{path}: unexpected header {header!r}, expected {expected!r}")
        files[day] = path
    return files


def _build(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """Load every source line and derive the four landing tables (each with day and sort key)."""
    _load_lines(con, files)
    _build_orders_and_customers(con)
    _build_products(con)


def _load_lines(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """Every source line as temp table ``lines``, and the category keywords as ``keywords``."""
    columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in SOURCE_COLUMNS) + "}"
    file_list = "[" + ", ".join(_lit(str(p)) for p in files) + "]"
    # Insertion order is preserved across files, so ln is the global file-then-line order.
    con.execute(f"""
        CREATE TEMP TABLE lines AS
        SELECT
            CAST(regexp_extract(filename, '(\\d{{4}}-\\d{{2}}-\\d{{2}})\\.csv$', 1) AS DATE) AS day,
            row_number() OVER () AS ln,
            InvoiceNo AS order_id,
            upper(trim(StockCode)) AS product_id,
            Description AS description,
            Quantity AS quantity,
            InvoiceDate AS ordered_at,
            UnitPrice AS unit_price,
            try_cast(UnitPrice AS DOUBLE) AS price_num,
            regexp_replace(CustomerID, '\\.0$', '') AS customer_id,
            Country AS country
        FROM read_csv({file_list}, columns = {columns}, header = true, auto_detect = false,
                      delim = ',', quote = '"', escape = '"', filename = true)
    """)
    con.execute("CREATE TEMP TABLE keywords (word VARCHAR, category VARCHAR)")
    con.executemany("INSERT INTO keywords VALUES (?, ?)", keyword_rows())


def _build_orders_and_customers(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TEMP TABLE out_order_items AS
        SELECT day, ln AS sort_key, order_id, product_id, quantity, unit_price FROM lines
    """)
    con.execute("""
        CREATE TEMP TABLE out_orders AS
        SELECT day, min(ln) AS sort_key, order_id,
               first(customer_id ORDER BY ln) AS customer_id,
               first(ordered_at ORDER BY ln) AS ordered_at,
               CASE WHEN starts_with(order_id, 'C') THEN 'returned' ELSE 'delivered' END AS status,
               'web' AS channel, 'GBP' AS currency
        FROM lines GROUP BY day, order_id
    """)
    con.execute("""
        CREATE TEMP TABLE out_customers AS
        WITH per_day AS (
            SELECT customer_id, day, min(ln) AS sort_key, first(country ORDER BY ln) AS country
            FROM lines WHERE customer_id IS NOT NULL GROUP BY customer_id, day
        ), marked AS (
            SELECT *, lag(country) OVER w AS prev_country, row_number() OVER w AS nth
            FROM per_day WINDOW w AS (PARTITION BY customer_id ORDER BY day)
        )
        SELECT day, sort_key, customer_id, country, CAST(NULL AS VARCHAR) AS signup_date, day AS updated_at
        FROM marked WHERE nth = 1 OR country IS DISTINCT FROM prev_country
    """)


def _build_products(con: duckdb.DuckDBPyConnection) -> None:
    """One product row per first sighting and per change of its sale name (module docstring)."""
    con.execute(
        """
        CREATE TEMP TABLE out_products AS
        WITH desc_day AS (
            SELECT product_id, day, description, min(ln) AS first_ln, count(*) AS n,
                   count(*) FILTER (WHERE price_num > 0) AS n_pos
            FROM lines GROUP BY product_id, day, description
        ), per_day AS (
            -- A name is re-delivered only from sale lines: stock notes ("adjustment",
            -- "damaged") on a day without sales must not rename the product.
            SELECT product_id, day, min(first_ln) AS sort_key,
                   first(description ORDER BY description IS NULL, n DESC, first_ln)
                       FILTER (WHERE n_pos > 0) AS sale_name,
                   first(description ORDER BY description IS NULL, n DESC, first_ln) AS any_name
            FROM desc_day GROUP BY product_id, day
        ), prices AS (
            SELECT product_id, day, round(median(price_num) FILTER (WHERE price_num > 0), 4) AS price
            FROM lines GROUP BY product_id, day
        ), marked AS (
            SELECT *,
                   last_value(sale_name IGNORE NULLS) OVER (PARTITION BY product_id ORDER BY day
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_name,
                   row_number() OVER (PARTITION BY product_id ORDER BY day) AS nth
            FROM per_day
        ), delivered AS (
            -- First sighting: any name rather than none.
            SELECT product_id, day, sort_key, CASE WHEN nth = 1 THEN coalesce(sale_name, any_name)
                                                   ELSE sale_name END AS name
            FROM marked
            WHERE nth = 1 OR (sale_name IS NOT NULL AND sale_name IS DISTINCT FROM prev_name)
        ), words AS (
            SELECT name, unnest(w) AS word, generate_subscripts(w, 1) AS pos
            FROM (SELECT DISTINCT name, regexp_split_to_array(upper(name), '[^A-Z-]+') AS w
                  FROM delivered WHERE name IS NOT NULL)
        ), categories AS (
            SELECT name, arg_max(k.category, pos) AS category
            FROM words JOIN keywords AS k USING (word) GROUP BY name
        )
        SELECT d.day, d.sort_key, d.product_id, d.name,
               coalesce(c.category, ?) AS category, p.price, d.day AS updated_at
        FROM delivered AS d
        JOIN prices AS p USING (product_id, day)
        LEFT JOIN categories AS c USING (name)
    """,
        [DEFAULT_CATEGORY],
    )


def _write_source(
    con: duckdb.DuckDBPyConnection, out: Path, source: str, days: Sequence[date], in_range: str, bar: tqdm
) -> int:
    """Write ``<out>/<source>/<day>/uci.csv`` for each day; returns the rows written.

    DuckDB renders every value as text (its own number and date formatting); pandas
    then splits the ordered result by day, because one COPY per day and source
    (1,220 statements) costs more than the whole mapping.
    """
    cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in OUTPUT_COLUMNS[source])
    frame = con.execute(f"""
        SELECT strftime(day, '%Y-%m-%d') AS day, {cols}
        FROM out_{source} WHERE {in_range} ORDER BY day, sort_key
    """).df()
    by_day = {day: group.drop(columns="day") for day, group in frame.groupby("day", sort=False)}
    for day in days:
        target = out / source / day.isoformat() / LANDING_NAME
        group = by_day.get(day.isoformat())
        if group is None:
            # Nothing for this source today: no file, and no stale one from an earlier run.
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")  # not *.csv: ingest never sees a partial file
            # QUOTE_MINIMAL with doubled quotes is RFC 4180; NULL becomes an empty field.
            group.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
            os.replace(tmp, target)
        bar.update()
    return len(frame)


def _remove_stale(out: Path, days: set[date], start: date, end: date) -> None:
    """Drop our file from date folders in [start, end] that have no source file (any more)."""
    for source in OUTPUT_COLUMNS:
        for target in (out / source).glob(f"*/{LANDING_NAME}"):
            try:
                day = date.fromisoformat(target.parent.name)
            except ValueError:
                continue  # not a date folder: not ours
            if start <= day <= end and day not in days:
                target.unlink()


def import_uci(
    src: Path, out: Path, start: date | None = None, end: date | None = None, *, progress: bool = False
) -> dict:
    """Write the landing files for the source days in [start, end] and return a summary."""
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start} is after end {end}")
    files = day_files(Path(src), end)
    days = [d for d in files if start is None or d >= start]
    if not days:
        span = f"{start or 'the first day'} .. {end or 'the last day'}"
        raise FileNotFoundError(f"no by-day files in {Path(src).resolve()} for {span}")
    out = Path(out)

    con = duckdb.connect()
    try:
        _build(con, list(files.values()))
        lo, hi = _lit(days[0].isoformat()), _lit(days[-1].isoformat())
        in_range = f"day BETWEEN DATE {lo} AND DATE {hi}"
        with tqdm(
            total=len(days) * len(OUTPUT_COLUMNS), desc="uci landing files", unit="file", disable=not progress
        ) as bar:
            rows = {source: _write_source(con, out, source, days, in_range, bar) for source in OUTPUT_COLUMNS}
        _remove_stale(out, set(days), start or days[0], end or days[-1])

        lines, invoices, cancellations, guest_lines, customers, products = con.execute(f"""
            SELECT count(*), count(DISTINCT order_id),
                   count(DISTINCT order_id) FILTER (WHERE starts_with(order_id, 'C')),
                   count(*) FILTER (WHERE customer_id IS NULL),
                   count(DISTINCT customer_id), count(DISTINCT product_id)
            FROM lines WHERE {in_range}
        """).fetchone()
    finally:
        con.close()

    return {
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "days": len(days),
        "source_lines": lines,
        "rows": rows,
        "invoices": invoices,
        "cancellations": cancellations,
        "guest_lines": guest_lines,
        "customers": customers,
        "products": products,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cx-import-uci", description="Map the UCI Online Retail by-day CSVs onto the landing zone."
    )
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of YYYY-MM-DD.csv files")
    parser.add_argument("--out", type=Path, required=True, help="landing zone root to write into")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    try:
        summary = import_uci(args.src, args.out, args.start, args.end, progress=True)
    except (FileNotFoundError, ValueError) as exc:
        print(f"cx-import-uci: {exc}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.perf_counter() - began, 2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

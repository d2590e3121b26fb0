""" "Foreign shop" landing zones built from the UCI Online Retail days.

Real exports differ from the UCI importer's tidy UTF-8 CSVs: other years, weeks
without deliveries, a source that stops early or never arrives, US date order,
semicolon CSVs with decimal commas, Latin-1 or UTF-16 files, Parquet with typed
columns, extra and missing optional columns, column names in another case. A
:class:`ShopSpec` says which of these traits each source carries; :func:`build_shop`
maps a slice of UCI days with the project's importer, reshapes it and writes the
landing zone, and returns what it wrote (rows per source and day, and the frames
as the shop meant them) so tests can check the published tables against it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from cx.importers import uci

SOURCES = tuple(uci.OUTPUT_COLUMNS)  # customers, products, orders, order_items
# Columns holding a timestamp or a date, per source (shifted with the days).
TIME_COLUMNS = {"customers": ("updated_at", "signup_date"), "products": ("updated_at",), "orders": ("ordered_at",)}
DECIMAL_COLUMNS = {"products": ("price",), "order_items": ("unit_price",)}
# Cities with non-ASCII letters, so an encoding mistake changes the data (Latin-1 can hold them all).
CITIES = {
    "Germany": "München",
    "France": "Orléans",
    "Spain": "Cádiz",
    "Portugal": "Évora",
    "Switzerland": "Zürich",
    "Iceland": "Reykjavík",
    "Norway": "Tromsø",
    "Sweden": "Malmö",
}


@dataclass(frozen=True)
class SourceShape:
    """How one source is exported."""

    fmt: str = "csv"  # csv | parquet
    sep: str = ","
    encoding: str = "utf-8"  # utf-8 | latin-1 | utf-16 (with its byte-order mark)
    line_end: str = "\n"
    decimal_comma: bool = False  # 2,55 instead of 2.55
    time_format: str = "%Y-%m-%d %H:%M:%S"  # strftime for timestamps (dates: the part before %H)
    rename: dict[str, str] = field(default_factory=dict)  # contract name -> the file's column name
    drop: tuple[str, ...] = ()  # optional columns the export lacks
    extra: tuple[str, ...] = ()  # columns outside the contract
    last_day: date | None = None  # the source stops delivering after this (shifted) day


@dataclass(frozen=True)
class ShopSpec:
    name: str
    uci_from: date  # the UCI slice the shop is made of
    uci_to: date
    first_day: date  # the shifted uci_from: the whole slice moves by first_day - uci_from
    sources: dict[str, SourceShape]  # absent key = the shop has no such source
    gaps: tuple[tuple[date, date], ...] = ()  # shifted days on which nothing arrives at all
    customer_share: int = 1  # keep 1 customer in N (and their orders; guests by invoice)
    date_order: str = "DMY"  # what CX_DATE_ORDER the shop needs

    @property
    def shift(self) -> timedelta:
        return self.first_day - self.uci_from


@dataclass
class Shop:
    spec: ShopSpec
    root: Path
    frames: dict[str, pd.DataFrame]  # per source: the rows delivered, as text, with `day` (shifted)
    days: dict[str, list[date]]  # per source: the day folders written

    @property
    def last_delivery(self) -> date:
        return max(d for days in self.days.values() for d in days)

    def rows_per_day(self, source: str) -> dict[date, int]:
        return {date.fromisoformat(k): int(v) for k, v in self.frames[source].groupby("day").size().items()}


_IMPORTS: dict[tuple[Path, date], dict[str, pd.DataFrame]] = {}


def _imported(src: Path, end: date, work: Path) -> dict[str, pd.DataFrame]:
    """The importer's rows for every UCI day up to ``end`` (cached: shops share one import).

    A day's rows do not depend on the import's range (the importer reads all history),
    so a shop may take its days from an import that reaches further."""
    for (cached_src, cached_end), frames in _IMPORTS.items():
        if cached_src == src and cached_end >= end:
            return {s: f[f["day"] <= end.isoformat()] for s, f in frames.items()}
    out = work / "uci_import"
    shutil.rmtree(out, ignore_errors=True)
    uci.import_uci(src, out, None, end)
    frames = {}
    for source in SOURCES:
        parts = [
            pd.read_csv(p, dtype=str, keep_default_na=False).assign(day=p.parent.name)
            for p in sorted((out / source).glob("*/uci.csv"))
        ]
        frames[source] = pd.concat(parts, ignore_index=True)
    shutil.rmtree(out)
    _IMPORTS[(src, end)] = frames
    return frames


def uci_frames(src: Path, start: date, end: date, work: Path) -> dict[str, pd.DataFrame]:
    """The importer's landing rows for [start, end], per source, as text with a `day` column.

    The shop starts its deliveries on ``start`` with a full export of its CRM and
    catalog (every customer and product known by then, in its latest version), as a
    shop adopting the pipeline does; later days carry the importer's new and changed rows.
    """
    frames = {}
    for source, frame in _imported(src, end, work).items():
        first = start.isoformat()
        if source in ("customers", "products"):
            key = "customer_id" if source == "customers" else "product_id"
            before = frame[frame["day"] < first].drop_duplicates(key, keep="last")
            before = before.assign(day=first, updated_at=first)
            frame = pd.concat([before, frame[frame["day"] >= first]], ignore_index=True)
        frames[source] = frame[frame["day"] >= first].reset_index(drop=True)
    return frames


def _subsample(frames: dict[str, pd.DataFrame], share: int) -> dict[str, pd.DataFrame]:
    if share <= 1:
        return frames

    def kept(ids: pd.Series) -> pd.Series:
        return pd.util.hash_pandas_object(ids, index=False) % share == 0

    orders = frames["orders"]
    keep_orders = orders[kept(orders["customer_id"].where(orders["customer_id"] != "", orders["order_id"]))]
    customers = frames["customers"]
    items = frames["order_items"]
    products = frames["products"]
    items = items[items["order_id"].isin(keep_orders["order_id"])]
    return {
        "customers": customers[customers["customer_id"].isin(keep_orders["customer_id"])],
        "orders": keep_orders,
        "order_items": items,
        "products": products[products["product_id"].isin(items["product_id"])],
    }


def _shift_times(frame: pd.DataFrame, columns: tuple[str, ...], shift: timedelta) -> pd.DataFrame:
    frame = frame.copy()
    frame["day"] = (pd.to_datetime(frame["day"]) + shift).dt.strftime("%Y-%m-%d")
    for col in columns:
        if col in frame:
            parsed = pd.to_datetime(frame[col].replace("", None), format="mixed")
            frame[col] = (parsed + shift).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    return frame


def _in_gap(days: pd.Series, gaps: tuple[tuple[date, date], ...]) -> pd.Series:
    hit = pd.Series(False, index=days.index)
    for lo, hi in gaps:
        hit |= days.between(lo.isoformat(), hi.isoformat())
    return hit


def _export(frame: pd.DataFrame, source: str, shape: SourceShape) -> pd.DataFrame:
    """The file's columns and values for one source (text, except typed Parquet columns)."""
    out = frame.drop(columns=["day", *shape.drop], errors="ignore").copy()
    for col in TIME_COLUMNS.get(source, ()):
        if col in out:
            fmt = shape.time_format if col in ("ordered_at", "updated_at") else shape.time_format.split(" %H")[0]
            out[col] = pd.to_datetime(out[col].replace("", None)).dt.strftime(fmt).fillna("")
    if shape.decimal_comma:
        for col in DECIMAL_COLUMNS.get(source, ()):
            if col in out:
                out[col] = out[col].str.replace(".", ",", regex=False)
    for i, col in enumerate(shape.extra):
        out[col] = [f"{col}-{n % 7}" for n in range(len(out))] if i % 2 == 0 else ""
    if shape.fmt == "parquet":
        out = _typed(out, source)
    return out.rename(columns=shape.rename)


def _typed(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Parquet as a typed export writes it: integers, doubles, timestamps, nulls."""
    frame = frame.replace("", None)
    types = {
        "customer_id": "Int64",
        "quantity": "Int64",
        "unit_price": "float64",
        "price": "float64",
    }
    for col, dtype in types.items():
        if col in frame:
            frame[col] = pd.to_numeric(frame[col]).astype(dtype)
    for col in ("ordered_at", "updated_at", "signup_date"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def _write(frame: pd.DataFrame, path: Path, shape: SourceShape) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if shape.fmt == "parquet":
        frame.to_parquet(path.with_suffix(".parquet"), index=False)
        return
    text = frame.to_csv(index=False, sep=shape.sep, lineterminator=shape.line_end)
    path.with_suffix(".csv").write_bytes(text.encode(shape.encoding))


def build_shop(spec: ShopSpec, src: Path, root: Path, import_to: date | None = None) -> Shop:
    """Write the shop's landing zone under ``root`` (replaced) and describe what it holds.

    ``import_to``: import UCI up to this day (not only to ``spec.uci_to``), so several
    shops built in one process share one import."""
    work = root.parent / f"{root.name}.work"
    frames = uci_frames(src, spec.uci_from, max(spec.uci_to, import_to or spec.uci_to), work)
    frames = {s: f[f["day"] <= spec.uci_to.isoformat()] for s, f in frames.items()}
    frames = _subsample(frames, spec.customer_share)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    delivered: dict[str, pd.DataFrame] = {}
    days: dict[str, list[date]] = {}
    for source, shape in spec.sources.items():
        frame = _shift_times(frames[source], TIME_COLUMNS.get(source, ()), spec.shift)
        frame = frame[~_in_gap(frame["day"], spec.gaps)]
        if shape.last_day is not None:
            frame = frame[frame["day"] <= shape.last_day.isoformat()]
        if source == "customers" and "city" not in shape.drop:
            frame = frame.assign(city=frame["country"].map(CITIES).fillna(""))
        frame = frame.reset_index(drop=True)
        delivered[source] = frame
        days[source] = sorted(date.fromisoformat(d) for d in frame["day"].unique())
        for day, group in frame.groupby("day", sort=True):
            _write(_export(group, source, shape), root / source / day / f"{spec.name}_{source}", shape)
    return Shop(spec, root, delivered, days)

"""The day loop: simulate each day, then deliver each source's rows as files.

Memory stays bounded by one day's rows plus the static population and catalogue
(and the review/ticket queues, which span two weeks).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tqdm import tqdm

from cx.contract import LANDING_SOURCES
from cx.generate.catalog import ProductSampler, build_catalog, catalog_rows, catalog_size
from cx.generate.customers import DAY, build_population, crm_rows
from cx.generate.defects import (
    KEY,
    KINDS,
    DefectRecord,
    FreshIds,
    Part,
    apply_repairable,
    finalize_order,
    inject_quarantine,
    records,
)
from cx.generate.feedback import Feedback
from cx.generate.formatting import day_number
from cx.generate.groups import GROUP_NAMES
from cx.generate.identity import (
    Duplicates,
    duplicate_rows,
    order_contacts,
    ordered_by_time,
    plan_duplicates,
    review_contacts,
    ticket_contacts,
)
from cx.generate.lapsers import plant_lapsers, write_lapsers
from cx.generate.manifest import Manifest
from cx.generate.orders import daily_orders
from cx.generate.people import add_people, move
from cx.generate.seasonality import browsing, demand, is_closed
from cx.generate.streams import stream
from cx.generate.web import daily_events
from cx.generate.writer import header, plan_files, write_file

SOURCES: tuple[str, ...] = tuple(LANDING_SOURCES)


class _Truth:
    """CSV files under ``_truth/`` written as the run goes."""

    HEADERS = {
        "defects": ("source", "date", "file", "record", "line", "kind", "class", "column", "key"),
        "review_labels": ("review_id", "rating", "label", "language"),
        "ticket_labels": ("ticket_id", "topic", "label"),
    }

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, TextIO] = {}
        self.writers: dict[str, Any] = {}
        for name, cols in self.HEADERS.items():
            f = (root / f"{name}.csv").open("w", encoding="utf-8", newline="")
            self._files[name] = f
            self.writers[name] = csv.writer(f, lineterminator="\n")
            self.writers[name].writerow(cols)

    def rows(self, name: str, columns: dict[str, np.ndarray]) -> None:
        self.writers[name].writerows(zip(*(columns[c].tolist() for c in self.HEADERS[name]), strict=False))

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def _prepare(out: Path, overwrite: bool) -> None:
    ours = [out / s for s in SOURCES] + [out / "_truth", out / "_manifest.json"]
    existing = [p for p in ours if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds generated data ({existing[0].name}); pass overwrite=True")
    for p in existing:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate(
    out: Path,
    start: date,
    days: int,
    customers: int,
    seed: int = 42,
    defects: bool = True,
    defect_scale: float = 1.0,
    sources: Sequence[str] | None = None,
    progress: bool = False,
    overwrite: bool = False,
    activity: float = 1.0,
    lapsers: float = 0.0,
) -> Manifest:
    """Write ``days`` days of landing files for ``customers`` customers under ``out``.

    The same arguments always produce byte-identical files. ``sources`` limits what is
    written (the simulation is the same, so the written sources do not change).
    ``activity`` multiplies every customer's order and browsing rates (and the rates of
    anonymous visits and order-less tickets): 1.0 is a lively shop (about 16 orders and
    280 web events per customer and year), ``0.2`` a typical one (about 3.3 orders, 7.6
    order lines and 56 web events); reviews and tickets follow the orders. ``lapsers``
    is the share of regular buyers whose rhythm stops late in the run (truth in
    ``_truth/lapsers.csv``; :mod:`cx.generate.lapsers`).
    """
    selected = tuple(s for s in SOURCES if sources is None or s in set(sources))
    unknown = set(sources or ()) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown sources: {sorted(unknown)}")
    if days < 1 or customers < 1:
        raise ValueError("days and customers must be positive")
    if not activity > 0:
        raise ValueError(f"activity must be positive, got {activity}")
    out = Path(out)
    _prepare(out, overwrite)
    scale = float(defect_scale) if defects else 0.0
    manifest = Manifest(
        args={
            "start": start.isoformat(),
            "days": days,
            "customers": customers,
            "seed": seed,
            "defects": defects,
            "defect_scale": float(defect_scale),
            "sources": list(selected),
        }
    )
    if activity != 1.0:  # recorded only when set, so default manifests stay as they were
        manifest.args["activity"] = float(activity)
    if lapsers:
        manifest.args["lapsers"] = float(lapsers)
    start_sec = day_number(start) * DAY
    catalog = build_catalog(stream(seed, "catalog"), catalog_size(customers), days)
    anonymous_pool = max(100, customers // 2)
    pop = build_population(stream(seed, "population"), customers, days, start_sec, catalog, anonymous_pool, activity)
    planted = plant_lapsers(stream(seed, "lapsers"), pop, days, lapsers) if lapsers else np.zeros(0, dtype=np.int64)
    add_people(stream(seed, "people"), pop, start_sec)
    duplicates = plan_duplicates(stream(seed, "crm_duplicates"), pop, days)
    feedback = Feedback()
    truth = _Truth(out / "_truth")
    try:
        for d in tqdm(range(days), disable=not progress, unit="day", desc="generating"):
            day = start + timedelta(days=d)
            label, iso = day.strftime("%Y%m%d"), day.isoformat()
            frames = _simulate_day(
                seed, start, d, selected, catalog, pop, feedback, anonymous_pool, start_sec, manifest, truth, duplicates
            )
            for source in selected:
                _deliver(out, source, frames[source], d, label, iso, start_sec + d * DAY, seed, scale, manifest, truth)
    finally:
        truth.close()
    _write_groups(out / "_truth" / "customer_groups.csv", pop)
    write_lapsers(out / "_truth" / "lapsers.csv", pop, planted, start, manifest)
    manifest.groups = {name: int((pop.group == g).sum()) for g, name in enumerate(GROUP_NAMES)}
    manifest.write(out / "_manifest.json")
    return manifest


def _simulate_day(
    seed: int,
    start: date,
    d: int,
    selected: tuple[str, ...],
    catalog: Any,
    pop: Any,
    feedback: Feedback,
    anonymous_pool: int,
    start_sec: int,
    manifest: Manifest,
    truth: _Truth,
    duplicates: Duplicates,
) -> dict[str, dict[str, np.ndarray]]:
    """Day ``d``'s rows of every source, each drawn from its own seeded stream; records the
    day's events and planted identities in the manifest and the labels of reviews and
    tickets in the truth files."""
    day = start + timedelta(days=d)
    label, iso = day.strftime("%Y%m%d"), day.isoformat()
    if is_closed(day):
        manifest.events["closed_days"].append(iso)
    frames: dict[str, dict[str, np.ndarray]] = {}
    people_rng = stream(seed, "people", d)
    frames["customers"], updates = crm_rows(
        stream(seed, "customers", d), pop, d, start_sec, on_move=lambda who: move(people_rng, pop, who)
    )
    second, planted = duplicate_rows(stream(seed, "crm_duplicates", d), pop, duplicates, d, start_sec)
    frames["customers"] = ordered_by_time(frames["customers"], second)
    identities = planted
    frames["products"], launches, price_updates = catalog_rows(stream(seed, "products", d), catalog, d, start_sec)
    manifest.events["customer_updates"] += updates
    manifest.events["product_launches"] += launches if d > 0 else 0
    manifest.events["price_updates"] += price_updates
    sampler = ProductSampler(catalog, d)
    batch = daily_orders(stream(seed, "orders", d), pop, catalog, sampler, d, start_sec, demand(day, start), label)
    identities += order_contacts(stream(seed, "contacts", d, "orders"), pop, batch)
    frames["orders"], frames["order_items"] = batch.orders, batch.items
    feedback.schedule(stream(seed, "feedback", d), pop, batch, d)
    if "web_events" in selected:
        frames["web_events"] = daily_events(
            stream(seed, "web", d), pop, sampler, batch, d, start_sec, browsing(day, start), anonymous_pool, label
        )
    if "reviews" in selected:
        frames["reviews"], labels = feedback.reviews(stream(seed, "reviews", d), pop, catalog, d, start_sec, label)
        truth.rows("review_labels", labels)
        identities += review_contacts(stream(seed, "contacts", d, "reviews"), pop, frames["reviews"])
    if "support_tickets" in selected:
        frames["support_tickets"], labels = feedback.tickets(stream(seed, "tickets", d), pop, d, start_sec, label)
        truth.rows("ticket_labels", labels)
        identities += ticket_contacts(stream(seed, "contacts", d, "tickets"), pop, frames["support_tickets"])
    manifest.add_identity([row for row in identities if row[0] in selected])
    return frames


def _deliver(
    out: Path,
    source: str,
    frame: dict[str, np.ndarray],
    d: int,
    label: str,
    iso: str,
    day_sec: int,
    seed: int,
    scale: float,
    manifest: Manifest,
    truth: _Truth,
) -> None:
    """Split a day's rows into files, inject defects, write them and record everything."""
    key = KEY[source]
    n = int(frame[key].shape[0])
    if n == 0:  # nothing arrived: no day folder
        return
    spec = LANDING_SOURCES[source]
    layout_rng = stream(seed, "layout", d, source)
    defect_rng = stream(seed, "defects", d, source)
    plans = plan_files(layout_rng, source, label, n, vary=True)
    dup_part = (
        int(defect_rng.integers(0, len(plans)))
        if scale > 0 and defect_rng.random() < KINDS["duplicate_file"].rate * scale
        else None
    )
    fresh = FreshIds(source, d, label)
    folder = out / source / iso
    ts = frame.get("_ts")
    price = frame.get("_price")
    for k, plan in enumerate(plans):
        present = [c for c in spec.columns if c != plan.dropped]
        sl = slice(plan.start, plan.stop)
        rows = plan.stop - plan.start
        part = Part(
            source=source,
            columns={c: frame[c][sl].copy() for c in present},
            ts=(ts[sl].copy() if ts is not None else np.zeros(rows, dtype=np.int64)),
            price=(price[sl].astype(np.float64) if price is not None else None),
            raw=np.full(rows, None, dtype=object),
        )
        if scale > 0 and k != dup_part:
            pristine = {c: v.copy() for c, v in part.columns.items()}
            apply_repairable(defect_rng, part, plan.fmt, scale)
            inject_quarantine(defect_rng, part, plan.fmt, scale, fresh, day_sec, pristine)
        order = finalize_order(defect_rng, part, rows)
        names = header(layout_rng, present, plan.header_style)
        columns = [part.columns[c][order] for c in present]
        if plan.extra:
            pos = int(layout_rng.integers(1, len(names) + 1))
            names.insert(pos, plan.extra)
            columns.insert(pos, np.full(part.n, f"{plan.extra.strip('_').lower()}-{label}-{k + 1}", dtype=object))
        written = write_file(folder / plan.name, plan.fmt, names, columns, part.raw[order])
        manifest.add_file(source, iso, plan.name, written)
        line_offset = 1 if plan.fmt == "csv" else 0
        _record_defects(manifest, truth, source, iso, plan.name, records(part, order), line_offset)
        if k == dup_part:
            _resend(
                folder, plan.name, written, part.columns[key][order].tolist(), source, iso, line_offset, manifest, truth
            )


def _record_defects(
    manifest: Manifest, truth: _Truth, source: str, iso: str, name: str, recs: list[DefectRecord], line_offset: int
) -> None:
    """The defects injected into one file, in the manifest and the truth file.

    Batched (one call per kind, one writerows per file): per-defect calls cost more than
    the defects themselves at millions of rows; the output is the same."""
    by_kind: dict[str, list[str | None]] = {}
    for rec in recs:
        by_kind.setdefault(rec.kind, []).append(rec.key)
    for kind, keys in by_kind.items():
        manifest.add_defects(kind, source, keys)
    truth.writers["defects"].writerows(
        (
            source,
            iso,
            name,
            rec.record,
            rec.record + line_offset,
            rec.kind,
            KINDS[rec.kind].klass,
            rec.column or "",
            rec.key or "",
        )
        for rec in recs
    )


def _resend(
    folder: Path,
    name: str,
    written: int,
    values: list[Any],
    source: str,
    iso: str,
    line_offset: int,
    manifest: Manifest,
    truth: _Truth,
) -> None:
    """The duplicate_file defect: the file delivered again under another name, every row a defect."""
    stem, dot, ext = name.rpartition(".")
    copy_name = f"{stem}_resent{dot}{ext}"
    shutil.copyfile(folder / name, folder / copy_name)
    manifest.add_file(source, iso, copy_name, written)
    manifest.add_defects("duplicate_file", source, values)
    klass = KINDS["duplicate_file"].klass
    truth.writers["defects"].writerows(
        (source, iso, copy_name, r, r + line_offset, "duplicate_file", klass, "", value or "")
        for r, value in enumerate(values, start=1)
    )


def _write_groups(path: Path, pop: Any) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("customer_id", "group_id", "group_name"))
        w.writerows(
            zip(
                pop.customer_id.tolist(),
                pop.group.tolist(),
                np.array(GROUP_NAMES, dtype=object)[pop.group].tolist(),
                strict=False,
            )
        )

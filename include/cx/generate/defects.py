"""Defects injected into the landing files, at known rates, each one recorded.

Every defective row carries exactly one defect, so counts are unambiguous:

repairable (the cleaned row must survive; duplicates collapse onto their original)
  timestamp_format    required timestamp in another format or zone (see formatting.ts_variant)
  email_format        e-mail in mixed case with surrounding spaces
  empty_string_null   a null written as an empty / whitespace-only string
  number_format       price with a currency sign or thousands separator ('€12.99', '1,234.50')
  enum_case           status / event_type in odd case or with spaces ('Shipped ', 'DELIVERED')
  duplicate_row       an exact copy of a row in the same file (counts the extra copy)
  stale_version       same key again in the same delivery with an older updated_at and other values
  duplicate_file      a whole file delivered twice under another name (counts the copy's rows)

quarantine (unrepairable; always extra rows, so the real data stays intact)
  unknown_enum          status 'lost_in_space', event_type 'teleport', ...
  nonpositive_price     price / unit_price of 0 or below (return lines keep positive prices)
  orphan_key            order item of an order that never arrives; order of a customer never in the CRM
  future_timestamp      timestamp more than a day after the extraction day
  missing_required_key  the row's key column is empty
  unparseable_row       a CSV line with too many fields, or a JSONL line that is not JSON

Injected quarantine rows never serve as parents: a rejected order has no items, a
rejected customer has no orders, so nothing cascades.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cx.generate.customers import COUNTRIES, EMAIL_DOMAINS
from cx.generate.formatting import TIMESTAMP_VARIANTS, money, ts_canonical, ts_variant

REPAIRABLE = "repairable"
QUARANTINE = "quarantine"


@dataclass(frozen=True)
class DefectKind:
    name: str
    klass: str
    rate: float  # per eligible row (duplicate_file: per source-day delivery)
    sources: tuple[str, ...]


ALL = ("customers", "products", "orders", "order_items", "web_events", "reviews", "support_tickets")
TIMED = ("customers", "products", "orders", "web_events", "reviews", "support_tickets")
DEFECT_KINDS: tuple[DefectKind, ...] = (
    DefectKind("timestamp_format", REPAIRABLE, 0.03, TIMED),
    DefectKind("email_format", REPAIRABLE, 0.05, ("customers",)),
    DefectKind("empty_string_null", REPAIRABLE, 0.02, ("customers", "web_events", "reviews")),
    DefectKind("number_format", REPAIRABLE, 0.03, ("products", "order_items")),
    DefectKind("enum_case", REPAIRABLE, 0.03, ("orders", "web_events")),
    DefectKind("duplicate_row", REPAIRABLE, 0.005, ALL),
    DefectKind("stale_version", REPAIRABLE, 0.01, ("customers", "products")),
    DefectKind("duplicate_file", REPAIRABLE, 0.02, ALL),
    DefectKind("unknown_enum", QUARANTINE, 0.002, ("orders", "web_events")),
    DefectKind("nonpositive_price", QUARANTINE, 0.002, ("products", "order_items")),
    DefectKind("orphan_key", QUARANTINE, 0.002, ("orders", "order_items")),
    DefectKind("future_timestamp", QUARANTINE, 0.001, TIMED),
    DefectKind("missing_required_key", QUARANTINE, 0.001, ALL),
    DefectKind("unparseable_row", QUARANTINE, 0.001, ALL),
)
KINDS: dict[str, DefectKind] = {k.name: k for k in DEFECT_KINDS}

KEY = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "order_id",
    "web_events": "event_id",
    "reviews": "review_id",
    "support_tickets": "ticket_id",
}
TS_COLUMN = {
    "customers": "updated_at",
    "products": "updated_at",
    "orders": "ordered_at",
    "web_events": "occurred_at",
    "reviews": "created_at",
    "support_tickets": "created_at",
}
NULLABLE = {
    "customers": ("gender", "birth_date"),
    "web_events": ("customer_id", "product_id", "search_query"),
    "reviews": ("rating", "language"),
}
PRICE_COLUMN = {"products": "price", "order_items": "unit_price"}
ENUM_COLUMN = {"orders": "status", "web_events": "event_type"}
UNKNOWN_ENUMS = {
    "orders": ("lost_in_space", "teleported", "pending_payment", "in_limbo"),
    "web_events": ("teleport", "wishlist_add", "checkout_step_7", "hover"),
}
# Fresh ids for injected rows: other lengths or ranges than any real id, so they never collide.
FRESH_PREFIX = {
    "customers": "C9",
    "products": "P9",
    "orders": "O",
    "order_items": "O",
    "web_events": "E",
    "reviews": "R",
    "support_tickets": "T",
}
ORPHAN_CUSTOMER_PREFIX = "C8"


@dataclass
class DefectRecord:
    kind: str
    record: int  # 1-based data record within the file, header excluded
    column: str | None
    key: str | None


@dataclass
class Part:
    """Rows of one file being prepared: contract columns (object arrays) + helpers."""

    source: str
    columns: dict[str, np.ndarray]  # only the columns present in this file
    ts: np.ndarray  # seconds of the source's timestamp column
    price: np.ndarray | None  # float prices for products / order_items
    raw: np.ndarray  # per row: the broken line's text (unparseable_row), else None
    tags: list[tuple[int, str, str | None]] = field(default_factory=list)  # (row, kind, column)

    @property
    def n(self) -> int:
        return int(self.ts.shape[0])


class FreshIds:
    """Counters for injected ids, per source and day."""

    def __init__(self, source: str, day_index: int, day_label: str) -> None:
        self.source, self.day_index, self.label, self.k = source, day_index, day_label, 0

    def next(self, prefix: str | None = None) -> str:
        self.k += 1
        p = prefix or FRESH_PREFIX[self.source]
        if p in ("C9", "P9", ORPHAN_CUSTOMER_PREFIX):
            return f"{p}{self.day_index:04d}{self.k:05d}"
        width = 9 if self.source == "web_events" else 7
        # Order items' made-up orders start with 8, injected orders with 9: never the same id.
        lead = "8" if self.source == "order_items" else "9"
        return f"{p}{self.label}-{lead}{self.k:0{width - 1}d}"


def _count(rng: np.random.Generator, n: int, rate: float, available: int) -> int:
    return int(min(rng.binomial(n, min(rate, 0.5)), available)) if n and rate > 0 else 0


def _messy_email(rng: np.random.Generator, email: str) -> str:
    style = int(rng.integers(0, 3))
    local, _, domain = email.partition("@")
    if style == 0:
        text = email.upper()
    elif style == 1:
        text = local.title() + "@" + domain.upper()
    else:
        text = local[:1].upper() + local[1:] + "@" + domain.title()
    pad = ("  ", " ", "")
    left, right = pad[int(rng.integers(0, 3))], pad[int(rng.integers(0, 2))]
    return left + text + right if (left or right) else " " + text


def _messy_number(rng: np.random.Generator, value: float) -> str:
    plain = f"{value:.2f}"
    if value >= 1000 and rng.random() < 0.6:
        plain = f"{value:,.2f}"
        if rng.random() < 0.5:
            return plain
    forms = ("€{}", "$ {}", "{} EUR", "EUR {}", "{} €", "€ {}")
    return forms[int(rng.integers(0, len(forms)))].format(plain)


def _messy_enum(rng: np.random.Generator, value: str) -> str:
    forms = (value.upper(), value.title() + " ", " " + value, value + "  ", value.upper() + " ", value.capitalize())
    out = forms[int(rng.integers(0, len(forms)))]
    return out if out != value else value.upper() + " "


def apply_repairable(rng: np.random.Generator, part: Part, fmt: str, scale: float) -> None:
    """Rewrite some real rows with repairable defects, one defect per row, in place."""
    src, cols, n = part.source, part.columns, part.n
    taken = np.zeros(n, dtype=bool)

    def pick(kind: str, eligible: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(eligible & ~taken)
        k = _count(rng, n, KINDS[kind].rate * scale, cand.size)
        chosen = np.sort(rng.choice(cand, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
        taken[chosen] = True
        return chosen

    def applies(kind: str) -> bool:
        return src in KINDS[kind].sources and scale > 0

    if applies("timestamp_format") and TS_COLUMN[src] in cols:
        col = TS_COLUMN[src]
        rows = pick("timestamp_format", np.ones(n, dtype=bool))
        variant = np.array(TIMESTAMP_VARIANTS)[rng.integers(0, len(TIMESTAMP_VARIANTS), rows.size)]
        cols[col][rows] = ts_variant(part.ts[rows], variant, rng)
        part.tags += [(int(r), "timestamp_format", col) for r in rows]
    if applies("email_format") and "email" in cols:
        rows = pick("email_format", cols["email"] != None)  # noqa: E711
        for r in rows:
            cols["email"][r] = _messy_email(rng, cols["email"][r])
        part.tags += [(int(r), "email_format", "email") for r in rows]
    if applies("empty_string_null"):
        present = [c for c in NULLABLE[src] if c in cols]
        if present:
            nulls = np.stack([cols[c] == None for c in present], axis=1)  # noqa: E711
            rows = pick("empty_string_null", nulls.any(axis=1))
            blanks = (" ", "  ") if fmt == "csv" else ("", " ")
            for r in rows:
                options = [c for c, is_null in zip(present, nulls[r], strict=False) if is_null]
                c = options[int(rng.integers(0, len(options)))]
                cols[c][r] = blanks[int(rng.integers(0, len(blanks)))]
                part.tags.append((int(r), "empty_string_null", c))
    if applies("number_format") and PRICE_COLUMN[src] in cols:
        col = PRICE_COLUMN[src]
        rows = pick("number_format", np.ones(n, dtype=bool))
        for r in rows:
            cols[col][r] = _messy_number(rng, float(part.price[r]))
        part.tags += [(int(r), "number_format", col) for r in rows]
    if applies("enum_case") and ENUM_COLUMN[src] in cols:
        col = ENUM_COLUMN[src]
        rows = pick("enum_case", np.ones(n, dtype=bool))
        for r in rows:
            cols[col][r] = _messy_enum(rng, cols[col][r])
        part.tags += [(int(r), "enum_case", col) for r in rows]
    # Extra rows: exact copies and stale versions of rows that carry no other defect.
    extra_rows: list[tuple[int, str]] = []
    if applies("duplicate_row"):
        extra_rows += [(int(r), "duplicate_row") for r in pick("duplicate_row", np.ones(n, dtype=bool))]
    if applies("stale_version"):
        extra_rows += [(int(r), "stale_version") for r in pick("stale_version", np.ones(n, dtype=bool))]
    _append_copies(rng, part, extra_rows)


def _append_copies(rng: np.random.Generator, part: Part, extra: list[tuple[int, str]]) -> None:
    if not extra:
        return
    _append_copies_plain(part, np.array([r for r, _ in extra], dtype=np.int64))
    base = part.n - len(extra)
    for i, (r, kind) in enumerate(extra):
        row = base + i
        if kind == "stale_version":
            older = int(part.ts[r] - rng.integers(3600, 30 * 86_400))
            part.ts[row] = older
            part.columns[TS_COLUMN[part.source]][row] = str(ts_canonical(np.array([older]))[0])
            column = _make_stale(rng, part, row)
        else:
            column = None
        part.tags.append((row, kind, column))


def _make_stale(rng: np.random.Generator, part: Part, row: int) -> str:
    """Give an older copy other attribute values, so 'latest wins' matters."""
    cols = part.columns
    if part.source == "products" and "price" in cols:
        old = np.floor(part.price[row] * rng.uniform(1.05, 1.3)) + 0.99
        part.price[row] = old
        cols["price"][row] = str(money(np.array([old]))[0])
        return "price"
    if part.source == "customers" and "email" in cols and cols["email"][row]:
        local = cols["email"][row].split("@")[0]
        current = cols["email"][row].split("@")[1]
        cols["email"][row] = local + "@" + next(d for d in EMAIL_DOMAINS if d != current)
        return "email"
    if part.source == "customers" and "city" in cols:
        cities = [c for _, _, places in COUNTRIES.values() for _, c in places]
        cols["city"][row] = next(
            c for c in cities[int(rng.integers(0, len(cities))) :] + cities if c != cols["city"][row]
        )
        return "city"
    name_col = (
        "name" if "name" in cols else next(c for c in cols if c not in (KEY[part.source], TS_COLUMN[part.source]))
    )
    cols[name_col][row] = (cols[name_col][row] or "") + " (old)"
    return name_col


def inject_quarantine(
    rng: np.random.Generator,
    part: Part,
    fmt: str,
    scale: float,
    fresh: FreshIds,
    day_sec: int,
    pristine: dict[str, np.ndarray],
) -> None:
    """Append unrepairable rows: copies of real rows as delivered clean, then broken on purpose.

    ``pristine`` holds the part's real rows before repairable defects, so an injected
    row carries its own defect and no other.
    """
    src, n0 = part.source, part.n
    n_real = int(next(iter(pristine.values())).shape[0])
    if n_real == 0 or scale <= 0:
        return
    cols = part.columns
    key = KEY[src]
    plan: list[tuple[str, str | None]] = []
    for kind in ("unknown_enum", "nonpositive_price", "orphan_key", "future_timestamp", "missing_required_key"):
        spec = KINDS[kind]
        if src not in spec.sources:
            continue
        needed = {
            "unknown_enum": ENUM_COLUMN.get(src),
            "nonpositive_price": PRICE_COLUMN.get(src),
            "future_timestamp": TS_COLUMN.get(src),
        }.get(kind)
        if needed is not None and needed not in cols:
            continue
        plan += [(kind, needed)] * _count(rng, n_real, spec.rate * scale, n_real)
    if src in KINDS["unparseable_row"].sources and fmt in ("csv", "jsonl"):
        plan += [("unparseable_row", None)] * _count(rng, n_real, KINDS["unparseable_row"].rate * scale, n_real)
    if not plan:
        return
    templates = rng.integers(0, n_real, len(plan))
    _append_copies_plain(part, templates, pristine)
    for i, ((kind, column), _t) in enumerate(zip(plan, templates, strict=False)):
        row = n0 + i
        if kind == "unknown_enum":
            options = UNKNOWN_ENUMS[src]
            cols[column][row] = options[int(rng.integers(0, len(options)))]
            cols[key][row] = fresh.next()
        elif kind == "nonpositive_price":
            value = 0.0 if rng.random() < 0.5 else -float(np.round(rng.uniform(0.5, 50.0), 2))
            cols[column][row] = str(money(np.array([value]))[0])
            part.price[row] = value
            if src == "products":
                cols[key][row] = fresh.next()
            else:  # an extra line on a real order of the day, distinct from its real lines
                cols["quantity"][row] = "1"
        elif kind == "orphan_key":
            cols[key][row] = fresh.next()
            if src == "orders":
                cols["customer_id"][row] = fresh.next(ORPHAN_CUSTOMER_PREFIX)
            column = "customer_id" if src == "orders" else "order_id"
        elif kind == "future_timestamp":
            future = day_sec + int(rng.integers(3 * 86_400, 400 * 86_400))
            part.ts[row] = future
            cols[column][row] = str(ts_canonical(np.array([future]))[0])
            cols[key][row] = fresh.next()
        elif kind == "missing_required_key":
            column = "product_id" if src == "order_items" else key
            if src == "order_items":
                cols["quantity"][row] = "1"  # not a copy of its template line
            cols[column][row] = None
        else:
            cols[key][row] = fresh.next()
            part.raw[row] = _broken_line(rng, part, row, fmt)
        part.tags.append((row, kind, column))


def _append_copies_plain(part: Part, src: np.ndarray, origin: dict[str, np.ndarray] | None = None) -> None:
    """Append copies of rows ``src`` (taken from ``origin`` if given, else from the part)."""
    for c, values in part.columns.items():
        part.columns[c] = np.concatenate([values, (origin or part.columns)[c][src]])
    part.ts = np.concatenate([part.ts, part.ts[src]])
    part.raw = np.concatenate([part.raw, np.full(src.size, None, dtype=object)])
    if part.price is not None:
        part.price = np.concatenate([part.price, part.price[src]])


def _broken_line(rng: np.random.Generator, part: Part, row: int, fmt: str) -> str:
    """A line that cannot parse: too many fields (CSV) or truncated JSON (JSONL)."""
    key = KEY[part.source]
    if fmt == "jsonl":
        return '{"' + key + '": "' + str(part.columns[key][row]) + '", "note": "truncated'
    values = []
    for values_col in part.columns.values():
        v = values_col[row]
        values.append("" if v is None else "".join(ch for ch in str(v) if ch not in ',"\r\n')[:40])
    extra = int(rng.integers(2, 5))
    return ",".join(values + ["#"] * extra)


def finalize_order(rng: np.random.Generator, part: Part, n_real: int) -> np.ndarray:
    """Order of rows in the file: real rows in order, injected rows at random places."""
    n = part.n
    sort_key = np.empty(n, dtype=np.int64)
    sort_key[:n_real] = np.arange(n_real) * 2 + 1
    sort_key[n_real:] = rng.integers(0, n_real + 1, n - n_real) * 2  # even: between real rows
    return np.lexsort((np.arange(n), sort_key))


def records(part: Part, order: np.ndarray) -> list[DefectRecord]:
    """Defect records with their 1-based record numbers in the final file order."""
    position = np.empty(part.n, dtype=np.int64)
    position[order] = np.arange(1, part.n + 1)
    key = KEY[part.source]
    out = []
    for row, kind, column in part.tags:
        value = part.columns[key][row]
        out.append(DefectRecord(kind, int(position[row]), column, None if value is None else str(value)))
    return out

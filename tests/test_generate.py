"""Tests of the synthetic landing-zone generator (cx.generate).

Small sizes only; the defect counts in the manifest are checked against what is
actually on disk, by reading every file back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.contract import LANDING_SOURCES
from cx.generate import generate
from cx.generate.cli import main
from cx.generate.defects import KINDS, NULLABLE, PRICE_COLUMN, TS_COLUMN

START = date(2024, 11, 1)
CANONICAL_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")
ENUMS = {
    "orders": ("status", {"placed", "shipped", "delivered", "cancelled", "returned"}),
    "web_events": ("event_type", {"page_view", "product_view", "search", "add_to_cart", "purchase"}),
}
KEYS = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_items": "order_id",
    "web_events": "event_id",
    "reviews": "review_id",
    "support_tickets": "ticket_id",
}


# ---------------------------------------------------------------- reading back


def _read_text_rows(path: Path) -> tuple[list[str], list[dict[str, str | None]], int]:
    """All parseable rows of a CSV/JSONL file as dicts (names trimmed + lower-cased) and the broken count."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            names = [h.strip().lower() for h in next(reader)]
            rows, bad = [], 0
            for rec in reader:
                if len(rec) != len(names):
                    bad += 1
                    continue
                # CSV cannot tell null from empty: an empty field is null.
                rows.append({n: (v if v != "" else None) for n, v in zip(names, rec, strict=False)})
        return names, rows, bad
    rows, bad, names = [], 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        names = [k.strip().lower() for k in obj]
        rows.append({k.strip().lower(): v for k, v in obj.items()})
    return names, rows, bad


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def read_file(path: Path) -> tuple[pd.DataFrame, int]:
    """A landing file as a frame of strings (None = null) plus its count of unparseable records."""
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        df.columns = [c.strip().lower() for c in df.columns]
        return df.astype(object).where(df.notna(), None), 0
    names, rows, bad = _read_text_rows(path)
    return pd.DataFrame(rows, columns=names, dtype=object), bad


def load(root: Path, source: str) -> pd.DataFrame:
    frames = []
    for path in sorted((root / source).glob("*/*")):
        df, _ = read_file(path)
        df["_file"] = path.name
        df["_day"] = path.parent.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def files_of(root: Path, source: str) -> list[Path]:
    return sorted((root / source).glob("*/*"))


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("messy")
    generate(out, START, days=45, customers=500, seed=7, defect_scale=4.0)
    return out, json.loads((out / "_manifest.json").read_text())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean")
    generate(out, date(2024, 10, 1), days=90, customers=1200, seed=3, defects=False)
    return out, json.loads((out / "_manifest.json").read_text())


# ---------------------------------------------------------------- determinism, layout, manifest


@pytest.mark.slow
def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, START, days=8, customers=150, seed=11, defect_scale=5.0)
    assert (
        main(
            [
                "--out",
                str(b),
                "--start",
                START.isoformat(),
                "--days",
                "8",
                "--customers",
                "150",
                "--seed",
                "11",
                "--defect-scale",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    generate(c, START, days=8, customers=150, seed=12, defect_scale=5.0)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


@pytest.mark.slow
def test_layout_matches_contract(messy: tuple[Path, dict]) -> None:
    root, manifest = messy
    for entry in root.iterdir():
        assert entry.name in LANDING_SOURCES or entry.name.startswith("_"), entry
    formats = set()
    for source in LANDING_SOURCES:
        for path in files_of(root, source):
            rel = path.relative_to(root).parts
            assert len(rel) == 3 and rel[0] == source
            date.fromisoformat(rel[1])
            assert path.suffix in (".csv", ".jsonl", ".parquet")
            assert not path.name.startswith("_")
            formats.add(path.suffix)
            assert manifest["files"][source][rel[1]][path.name] >= 1
    assert formats == {".csv", ".jsonl", ".parquet"}
    listed = sum(len(f) for days in manifest["files"].values() for f in days.values())
    assert listed == sum(len(files_of(root, s)) for s in LANDING_SOURCES) == manifest["totals"]["files"]


@pytest.mark.slow
def test_required_columns_in_every_file_and_header_variants(messy: tuple[Path, dict]) -> None:
    root, _ = messy
    raw_headers: set[str] = set()
    extra = 0
    for source, spec in LANDING_SOURCES.items():
        for path in files_of(root, source):
            if path.suffix == ".parquet":
                names = list(pd.read_parquet(path).columns)
            elif path.suffix == ".csv":
                names = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
            else:
                names = list(
                    json.loads(
                        next(line for line in path.read_text(encoding="utf-8").splitlines() if _is_json(line))
                    ).keys()
                )
            raw_headers.update(names)
            norm = {n.strip().lower() for n in names}
            assert set(spec.required) <= norm, (path, names)
            extra += bool(norm - set(spec.columns))
    assert any(h != h.strip() for h in raw_headers) and any(h.isupper() for h in raw_headers)
    assert extra > 0


@pytest.mark.slow
def test_manifest_rows_match_files(messy: tuple[Path, dict]) -> None:
    root, manifest = messy
    for source in LANDING_SOURCES:
        for path in files_of(root, source):
            df, bad = read_file(path)
            assert len(df) + bad == manifest["files"][source][path.parent.name][path.name], path
    for kind, entry in manifest["defects"].items():
        assert entry["class"] == KINDS[kind].klass
        assert entry["count"] == sum(entry["by_source"].values())
        assert all(len(entry["keys"][s]) == n for s, n in entry["by_source"].items())
    truth = pd.read_csv(root / "_truth" / "defects.csv", dtype=str, keep_default_na=False)
    assert len(truth) == sum(e["count"] for e in manifest["defects"].values())


# ---------------------------------------------------------------- every defect kind, counted on disk


def _by_source(manifest: dict, kind: str) -> dict[str, int]:
    return manifest["defects"][kind]["by_source"]


@pytest.mark.slow
def test_defects_are_present(messy: tuple[Path, dict]) -> None:
    _, manifest = messy
    for kind, entry in manifest["defects"].items():
        assert entry["count"] > 0, kind


@pytest.mark.slow
def test_defect_counts_match_disk(messy: tuple[Path, dict]) -> None:
    root, manifest = messy
    data = {s: load(root, s) for s in LANDING_SOURCES}
    resent = {s: df[df["_file"].str.contains("_resent")] for s, df in data.items()}
    body = {s: df[~df["_file"].str.contains("_resent")] for s, df in data.items()}
    found: dict[str, dict[str, int]] = {k: {} for k in KINDS}

    def put(kind: str, source: str, n: int) -> None:
        if n:
            found[kind][source] = int(n)

    for source, df in body.items():
        key = KEYS[source]
        put("duplicate_file", source, len(resent[source]))
        contract_cols = [c for c in LANDING_SOURCES[source].columns if c in df.columns]
        dups = 0
        for _, f in df.groupby("_file"):
            dups += int(f[contract_cols].fillna("<null>").duplicated().sum())
        put("duplicate_row", source, dups)
        if source in TS_COLUMN:
            ts = df[TS_COLUMN[source]].dropna()
            put("timestamp_format", source, int((~ts.str.match(CANONICAL_TS)).sum()))
            canon = df[df[TS_COLUMN[source]].fillna("").str.match(CANONICAL_TS)]
            limit = pd.to_datetime(canon["_day"]) + timedelta(days=2)
            put("future_timestamp", source, int((pd.to_datetime(canon[TS_COLUMN[source]]) >= limit).sum()))
        if source in ENUMS:
            col, valid = ENUMS[source]
            v = df[col].dropna()
            norm = v.str.strip().str.lower()
            put("unknown_enum", source, int((~norm.isin(valid)).sum()))
            put("enum_case", source, int((norm.isin(valid) & (v != norm)).sum()))
        if source in PRICE_COLUMN:
            p = df[PRICE_COLUMN[source]].dropna()
            put("number_format", source, int((~p.str.match(MONEY)).sum()))
            plain = p[p.str.match(MONEY)].astype(float)
            put("nonpositive_price", source, int((plain <= 0).sum()))
        if source == "customers":
            e = df["email"].dropna()
            put("email_format", source, int((e != e.str.strip().str.lower()).sum()))
        if source in NULLABLE:
            cols = [c for c in NULLABLE[source] if c in df.columns]
            blank = np.zeros(len(df), dtype=bool)
            for c in cols:
                blank |= df[c].map(lambda x: x is not None and str(x).strip() == "").to_numpy()
            put("empty_string_null", source, int(blank.sum()))
        missing_col = "product_id" if source == "order_items" else key
        put("missing_required_key", source, int(df[missing_col].isna().sum()))
        if source in ("customers", "products"):
            stale = 0
            for _, f in df[df[key].notna()].groupby("_file"):
                exact = int(f[contract_cols].fillna("<null>").duplicated().sum())
                stale += len(f) - f[key].nunique() - exact
            put("stale_version", source, stale)
        bad = sum(read_file(p)[1] for p in files_of(root, source) if "_resent" not in p.name)
        put("unparseable_row", source, bad)
    customer_ids = set(data["customers"]["customer_id"].dropna())
    orders = body["orders"]
    put("orphan_key", "orders", int((orders["customer_id"].notna() & ~orders["customer_id"].isin(customer_ids)).sum()))
    items = body["order_items"]
    put(
        "orphan_key",
        "order_items",
        int((items["order_id"].notna() & ~items["order_id"].isin(set(orders["order_id"].dropna()))).sum()),
    )
    for kind in KINDS:
        assert found[kind] == _by_source(manifest, kind), kind


@pytest.mark.slow
def test_manifest_keys_point_at_rows(messy: tuple[Path, dict]) -> None:
    root, manifest = messy
    orders = load(root, "orders")
    bad_status = orders[~orders["status"].fillna("").str.strip().str.lower().isin(ENUMS["orders"][1])]
    assert sorted(manifest["defects"]["unknown_enum"]["keys"].get("orders", [])) == sorted(bad_status["order_id"])
    orphans = set(manifest["defects"]["orphan_key"]["keys"].get("orders", []))
    assert orphans <= set(orders["order_id"]) and not orphans & set(load(root, "order_items")["order_id"])


@pytest.mark.slow
def test_unparseable_rows_rejected_by_duckdb(messy: tuple[Path, dict]) -> None:
    root, manifest = messy
    truth = pd.read_csv(root / "_truth" / "defects.csv", dtype=str, keep_default_na=False)
    bad = truth[(truth["kind"] == "unparseable_row") & truth["file"].str.endswith(".csv")]
    assert len(bad) > 0
    con = duckdb.connect()
    for (source, day, name), group in bad.groupby(["source", "date", "file"]):
        path = root / source / day / name
        con.execute("drop table if exists rej; drop table if exists scan")
        con.execute(
            f"create or replace temp table t as select * from read_csv('{path}', all_varchar=true, "
            "header=true, strict_mode=true, store_rejects=true, rejects_table='rej', rejects_scan='scan')"
        )
        lines = sorted({int(r[0]) for r in con.execute("select line from rej").fetchall()})
        assert lines == sorted(int(x) for x in group["line"]), path
        parsed = con.execute("select count(*) from t").fetchone()[0]
        assert parsed + len(lines) == manifest["files"][source][day][name]


@pytest.mark.slow
def test_no_defects_means_none(clean: tuple[Path, dict]) -> None:
    root, manifest = clean
    assert manifest["totals"]["defects"] == {"repairable": 0, "quarantine": 0}
    assert all(e["count"] == 0 for e in manifest["defects"].values())
    assert not (set((root / "_truth" / "defects.csv").read_text().splitlines()[1:]))
    orders = load(root, "orders")
    assert orders["ordered_at"].str.match(CANONICAL_TS).all()
    assert orders["status"].isin(ENUMS["orders"][1]).all()
    assert not list(root.rglob("*_resent*"))
    items = load(root, "order_items")
    assert items["unit_price"].str.match(MONEY).all() and (items["unit_price"].astype(float) > 0).all()
    assert set(items["order_id"]) <= set(orders["order_id"])
    # Guest checkouts carry no customer_id (planted identities, not defects).
    assert set(orders["customer_id"].dropna()) <= set(load(root, "customers")["customer_id"])


# ---------------------------------------------------------------- planted structure


def _features(root: Path) -> pd.DataFrame:
    orders = load(root, "orders")
    orders["ts"] = pd.to_datetime(orders["ordered_at"])
    items = load(root, "order_items").merge(orders[["order_id", "customer_id", "status"]], on="order_id")
    items["q"] = items["quantity"].astype(int)
    items["amount"] = items["q"] * items["unit_price"].astype(float)
    web = load(root, "web_events")
    end = orders["ts"].max()
    bought = items[items["q"] > 0].groupby("customer_id")
    f = pd.DataFrame({"monetary": bought["amount"].sum(), "basket": bought.size() / bought["order_id"].nunique()})
    per = orders.groupby("customer_id")
    f["frequency"] = per.size()
    f["recency"] = (end - per["ts"].max()).dt.days
    f["returns"] = orders.assign(r=orders["status"] == "returned").groupby("customer_id")["r"].mean()
    # Stitch anonymous sessions to the customer who later logged in on that device.
    login = web.dropna(subset=["customer_id"]).drop_duplicates("anonymous_id").set_index("anonymous_id")["customer_id"]
    web["who"] = web["customer_id"].fillna(web["anonymous_id"].map(login))
    w = web.dropna(subset=["who"])
    f2 = pd.DataFrame({"sessions": w.groupby("who")["session_id"].nunique()})
    carts = w[w["event_type"] == "add_to_cart"].groupby("who")["session_id"].nunique()
    buys = w[w["event_type"] == "purchase"].groupby("who")["session_id"].nunique()
    f2["abandon"] = (1 - buys.reindex(carts.index).fillna(0) / carts).clip(lower=0)
    truth = pd.read_csv(root / "_truth" / "customer_groups.csv").set_index("customer_id")
    x = truth.join(f).join(f2)
    return x.fillna(
        {"frequency": 0, "monetary": 0, "recency": 120, "basket": 0, "returns": 0, "sessions": 0, "abandon": 0}
    )


@pytest.mark.slow
def test_groups_are_recoverable_by_clustering(clean: tuple[Path, dict]) -> None:
    sklearn = pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    assert sklearn
    x = _features(clean[0])
    means = x.groupby("group_name")[["frequency", "monetary", "recency", "returns", "sessions", "abandon"]].mean()
    assert means.loc["frequent_high_spenders", "monetary"] > 3 * means.loc["bargain_hunters", "monetary"]
    assert means.loc["bargain_hunters", "returns"] > 0.25 > means.loc["frequent_high_spenders", "returns"]
    assert means.loc["lapsed_customers", "recency"] > 45 > means.loc["new_customers", "recency"]
    assert means.loc["browsers_cart_abandoners", "abandon"] > 0.9
    cols = ["frequency", "monetary", "recency", "basket", "returns", "sessions", "abandon"]
    z = x[cols].copy()
    for c in ("frequency", "monetary", "sessions"):
        z[c] = np.log1p(z[c])
    z = StandardScaler().fit_transform(z)
    labels = KMeans(n_clusters=x["group_id"].nunique(), n_init=10, random_state=0).fit_predict(z)
    assert adjusted_rand_score(x["group_id"], labels) >= 0.8


@pytest.mark.slow
def test_identity_stitching_has_work(clean: tuple[Path, dict]) -> None:
    web = load(clean[0], "web_events")
    both = web.dropna(subset=["customer_id", "anonymous_id"])
    anon_only = web[web["customer_id"].isna()]
    later_known = set(anon_only["anonymous_id"]) & set(both["anonymous_id"])
    assert len(later_known) > 20
    assert web["event_type"].value_counts().index.isin(ENUMS["web_events"][1]).all()


@pytest.mark.slow
def test_planted_identities_are_on_disk_with_their_true_person(clean: tuple[Path, dict]) -> None:
    """Every planted identity record is where the manifest says, its person is a real
    customer, and it differs from that person's CRM record the way its kind says."""
    root, manifest = clean
    truth = pd.DataFrame(manifest["identity_truth"])
    assert manifest["identity"] == truth["kind"].value_counts().sort_index().to_dict()
    families = truth["kind"].str.split(":").str[0]
    assert set(families) == {"crm_duplicate", "guest_order", "review_by", "ticket_by"}
    assert truth["kind"].str.startswith("crm_duplicate:").sum() >= 20
    people = set(pd.read_csv(root / "_truth" / "customer_groups.csv")["customer_id"])
    assert set(truth["person"]) <= people
    assert not truth.duplicated(["source", "source_record_id"]).any()
    key = {"customers": "customer_id", "orders": "order_id", "reviews": "review_id", "support_tickets": "ticket_id"}
    crm = load(root, "customers").drop_duplicates("customer_id", keep="last").set_index("customer_id")
    for source, rows in truth.groupby("source"):
        data = load(root, source).drop_duplicates(key[source], keep="last").set_index(key[source])
        found = data.loc[rows["source_record_id"]]
        if source == "customers":  # second records: a new id, the person's birth date or none
            assert not (found.index.isin(people)).any()
            same_birth = found["birth_date"].isna() | (
                found["birth_date"].to_numpy() == crm.loc[rows["person"], "birth_date"].to_numpy()
            )
            assert same_birth.all()
        else:  # guests, platform reviews, helpdesk tickets: no CRM id
            assert found["customer_id"].isna().all(), source
    # Guest orders: the e-mail as the person typed it, matching their CRM address per kind.
    guests = truth[truth["source"] == "orders"].set_index("source_record_id")
    orders = load(root, "orders").set_index("order_id").loc[guests.index]
    typed = orders["email"].fillna("").str.strip().str.lower()
    known = crm.loc[guests["person"], "email"].to_numpy()
    exact = guests["kind"].isin(["guest_order:exact_email", "guest_order:email_case"]).to_numpy()
    assert exact.sum() > 0 and (typed.to_numpy()[exact] == known[exact]).mean() > 0.9  # a later e-mail change aside
    typo = (guests["kind"] == "guest_order:typo_email").to_numpy()
    assert typo.sum() > 0 and (typed.to_numpy()[typo] != known[typo]).all()
    assert (orders["customer_id"].isna()).all()
    # Some of it is hard: second records without the first's e-mail, tickets by phone.
    second = crm.loc[truth.loc[truth["source"] == "customers", "source_record_id"]]
    firsts = crm.loc[truth.loc[truth["source"] == "customers", "person"], "email"].to_numpy()
    assert (second["email"].to_numpy() != firsts).any()
    assert truth["kind"].str.contains("phone").any()


@pytest.mark.slow
def test_sales_seasonality_and_closed_christmas(clean: tuple[Path, dict]) -> None:
    root, manifest = clean
    orders = load(root, "orders")
    daily = orders.groupby(pd.to_datetime(orders["ordered_at"]).dt.date).size()
    assert date(2024, 12, 25) not in daily.index and "2024-12-25" in manifest["events"]["closed_days"]
    assert not (root / "orders" / "2024-12-25").exists()
    s = pd.Series(daily.values, index=pd.to_datetime(daily.index))
    assert s[s.index.month == 12].mean() > 1.2 * s[s.index.month == 10].mean()
    assert s[s.index.dayofweek >= 5].mean() > s[s.index.dayofweek < 5].mean()
    assert s[pd.Timestamp("2024-11-29")] > 1.8 * s["2024-11-15":"2024-11-22"].mean()  # Black Friday


@pytest.mark.slow
def test_recommendation_signal_repeat_and_taste(clean: tuple[Path, dict]) -> None:
    root, _ = clean
    orders = load(root, "orders")
    items = load(root, "order_items").merge(orders[["order_id", "customer_id"]], on="order_id")
    items = items[items["quantity"].astype(int) > 0]
    counts = items.groupby(["customer_id", "product_id"]).size()
    repeat_share = (counts > 1).groupby(level=0).any().mean()
    assert repeat_share > 0.3
    products = load(root, "products").drop_duplicates("product_id", keep="last")
    cat = items.merge(products[["product_id", "category"]], on="product_id")
    top_share = cat.groupby("customer_id")["category"].agg(lambda c: c.value_counts(normalize=True).iloc[0])
    buyers = cat.groupby("customer_id").size() >= 5
    assert top_share[buyers].mean() > 0.45  # taste concentrates on few of the 12 categories


@pytest.mark.slow
def test_review_text_follows_rating(clean: tuple[Path, dict]) -> None:
    root, _ = clean
    reviews = load(root, "reviews")
    rated = reviews.dropna(subset=["rating"])
    assert 0.10 < 1 - len(rated) / len(reviews) < 0.20
    assert {"en", "de", "fr", "es"} <= set(reviews["language"].dropna())
    assert reviews["language"].isna().mean() > 0.05
    positive = r"love|great|excellent|super|top|génial|genial|encanta|good|gut|bien|buena|parfait|perfekt"
    negative = r"disappointed|terrible|poor|broke|enttäuscht|schlecht|déçu|horrible|mala|lent|slow|kaputt|never"
    text = rated["body"].str.lower()
    score = text.str.count(positive) - text.str.count(negative)
    stars = rated["rating"].astype(int)
    # The wording follows the rating on average, not one-to-one (issue 23: real reviews are
    # mixed, sarcastic, plain facts, or contradict their rating; a generator whose text maps
    # to the rating let the demo's sentiment score 0.999).
    assert 0.25 < np.corrcoef(stars, score)[0, 1] < 0.7
    assert ((stars == 5) & (score < 0)).any() and ((stars <= 2) & (score > 0)).mean() > 0.01
    assert rated["body"].str.contains(r"oh great|na toll|génial, il|genial, se", case=False).any()  # sarcasm
    assert (rated["body"].str.len() < 12).mean() > 0.03  # one-word and emoji bodies
    assert 0.2 < reviews["title"].isna().mean() < 0.4
    assert reviews["body"].str.contains("\n").any() and reviews["body"].str.contains('"').any()
    assert reviews["body"].str.contains(r"not bad|nicht schlecht|pas mal|no está mal").any()
    assert reviews["body"].nunique() > 0.5 * len(reviews)
    truth = pd.read_csv(root / "_truth" / "review_labels.csv")
    assert set(truth["label"]) == {"negative", "neutral", "positive"}
    tickets = load(root, "support_tickets")
    assert len(tickets) > 0 and tickets["subject"].notna().all()


@pytest.mark.slow
def test_csv_with_newlines_round_trips_through_duckdb(clean: tuple[Path, dict]) -> None:
    root, manifest = clean
    checked = 0
    for path in files_of(root, "reviews"):
        if path.suffix != ".csv":
            continue
        rel = duckdb.read_csv(str(path), all_varchar=True, header=True, strict_mode=True)
        df = rel.df()
        assert len(df) == manifest["files"]["reviews"][path.parent.name][path.name]
        mine, _ = read_file(path)
        assert list(df.iloc[:, [c.strip().lower() for c in df.columns].index("body")].fillna("")) == list(
            mine["body"].fillna("")
        )
        checked += int(df.iloc[:, [c.strip().lower() for c in df.columns].index("body")].str.contains("\n").any())
    assert checked > 0


def test_sources_subset_writes_only_those(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    generate(full, START, days=5, customers=120, seed=5)
    manifest = generate(part, START, days=5, customers=120, seed=5, sources=["customers", "orders"])
    assert sorted(p.name for p in part.iterdir() if not p.name.startswith("_")) == ["customers", "orders"]
    assert set(manifest.files) == {"customers", "orders"}
    for p in (part / "orders").rglob("*.*"):
        assert p.read_bytes() == (full / p.relative_to(part)).read_bytes()
    with pytest.raises(FileExistsError):
        generate(part, START, days=5, customers=120, seed=5)


# ---------------------------------------------------------------- activity level and fast paths


def _content_digest(root: Path) -> str:
    """One hash over every file's content; Parquet by its rows, not its bytes (the
    writer stamps its pyarrow version into the file)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        h.update(str(p.relative_to(root)).encode())
        if p.suffix == ".parquet":
            h.update(
                json.dumps(
                    pd.read_parquet(p).astype(object).where(lambda d: d.notna(), None).to_dict("split"), sort_keys=True
                ).encode()
            )
        else:
            h.update(p.read_bytes())
    return h.hexdigest()


# The default output (activity 1.0) of this small run, from before the activity knob and the
# faster writers existed: a change here changes every user's data for the same seed. If a
# change is intended, say so in the changelog and update the digest. Changed on purpose in
# issue 23: reviews are worded in styles drawn from the rating (cx.generate.texts.STYLES).
# Changed on purpose in issue 27: the contract's identity columns (phones, addresses,
# postcodes, consent, e-mails and names on orders, reviews and tickets) and the planted
# identities (second CRM records, guest orders, reviews and tickets without CRM id).
GOLDEN_DIGEST = "0f6c363a1539417e77c8baddc3843addbaf514a221aec05f1399d3231607f707"


def test_default_output_unchanged(tmp_path: Path) -> None:
    generate(tmp_path, START, days=10, customers=300, seed=11, defect_scale=3.0)
    assert _content_digest(tmp_path) == GOLDEN_DIGEST


@pytest.mark.slow
def test_activity_scales_orders_and_browsing(tmp_path: Path) -> None:
    full = generate(tmp_path / "full", START, days=40, customers=800, seed=9)
    low = generate(tmp_path / "low", START, days=40, customers=800, seed=9, activity=0.25)
    f, lo = full.totals["records_by_source"], low.totals["records_by_source"]
    for source in ("orders", "order_items", "web_events"):
        # New customers' first orders do not scale, so orders fall a little less than 4x.
        assert 0.15 < lo[source] / f[source] < 0.4, (source, lo[source], f[source])
    assert lo["customers"] == f["customers"]  # the population and its CRM rows do not depend on it
    assert "activity" not in full.args and low.args["activity"] == 0.25
    with pytest.raises(ValueError, match="activity"):
        generate(tmp_path / "bad", START, days=2, customers=10, activity=0.0)
    with pytest.raises(SystemExit):
        main(
            [
                "--out",
                str(tmp_path / "cli"),
                "--start",
                START.isoformat(),
                "--days",
                "2",
                "--customers",
                "10",
                "--activity",
                "-1",
                "--quiet",
            ]
        )


def test_fast_writers_match_reference_encoders() -> None:
    from cx.generate.formatting import date_objects, dates, ts_canonical, ts_objects
    from cx.generate.writer import _json_lines

    seconds = np.array([0, 1_700_000_000, -86_401, 4_102_444_799, 1_709_251_199])
    assert ts_objects(seconds).tolist() == ts_canonical(seconds).tolist()
    days = np.array([-25_000, 0, 19_782, 2_932_896])
    assert date_objects(days).tolist() == dates(days).tolist()
    assert ts_objects(np.zeros(0, dtype=np.int64)).tolist() == []
    names = ["id", " Padded ", "text", "50%"]
    values = (
        ["a", "b", "c"],
        [None, "x", ""],
        ['quote " and \\ backslash', "Müller\nnew line", "tab\t€"],
        ["1", None, "%s"],
    )
    columns = [np.array(v, dtype=object) for v in values]
    expected = [
        json.dumps(dict(zip(names, row, strict=False)), ensure_ascii=False)
        for row in zip(*(c.tolist() for c in columns), strict=False)
    ]
    assert _json_lines(names, columns) == expected
    assert _json_lines(["a", "a"], [np.array(["1"], dtype=object), np.array(["2"], dtype=object)]) == ['{"a": "2"}']


def test_word_banks_cover_every_language_and_mood() -> None:
    """The word banks are data files (cx/generate/word_banks): an edit that drops a
    language or a mood would fail only for the seeds that draw it, so check them whole."""
    from cx.generate import review_wording
    from cx.generate.catalog import CATEGORIES
    from cx.generate.review_wording import CLOSERS, LANGS, OPENERS, SHORT, TITLES
    from cx.generate.texts import TICKET_GREETINGS, TICKET_SIGNOFF, TICKET_TOPICS

    for name in (
        "BUT",
        "INTENSIFIERS",
        "POSITIVE",
        "NEGATIVE",
        "NOT_BAD",
        "NOT_GOOD",
        "NEUTRAL",
        "MINOR",
        "FACTS",
        "SARCASM",
    ):
        assert set(getattr(review_wording, name)) == set(LANGS), name
    for bank in (OPENERS, CLOSERS, TITLES, SHORT):
        assert set(bank) == {"pos", "neg", "neu"}
        assert all(set(per_lang) == set(LANGS) and all(per_lang.values()) for per_lang in bank.values())
    for mood, subjects, problems in TICKET_TOPICS.values():
        assert mood in {"positive", "neutral", "negative"}
        assert set(subjects) == set(problems) == set(TICKET_GREETINGS) == set(TICKET_SIGNOFF) == {"en", "de"}
    assert all(c.brands and c.nouns and c.adjectives and c.features and c.share > 0 for c in CATEGORIES)
    assert isinstance(CATEGORIES[0].brands, tuple)  # immutable, like the generator's other constants

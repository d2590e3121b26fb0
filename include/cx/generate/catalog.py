"""Product catalogue: categories with their words, brands and price levels
(``word_banks/catalog.json``).

Prices are log-normal per category; every product also has a popularity weight
(Zipf within its category) and a latent quality that drives review ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx.generate.banks import load_bank
from cx.generate.formatting import ids, money, ts_objects


@dataclass(frozen=True)
class Category:
    name: str
    median_price: float
    sigma: float
    share: float  # share of the catalogue
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    features: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = tuple(Category(**c) for c in load_bank("catalog")["categories"])
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
TIERS: tuple[str, ...] = ("cheap", "mid", "premium")


@dataclass
class Catalog:
    """All products over the whole run (``launch_day`` says when each appears)."""

    product_id: np.ndarray
    name: np.ndarray
    category: np.ndarray  # category index
    brand: np.ndarray
    description: np.ndarray
    price: np.ndarray  # current price, mutated by price updates
    popularity: np.ndarray
    price_rank: np.ndarray  # 0 (cheapest) .. 1 (dearest) within the category
    quality: np.ndarray  # latent, standard normal
    launch_day: np.ndarray  # day index of first delivery (0 = initial catalogue)

    @property
    def size(self) -> int:
        return int(self.product_id.shape[0])


def catalog_size(customers: int) -> int:
    return int(np.clip(round(customers * 0.12), 120, 20000))


def build_catalog(rng: np.random.Generator, n: int, days: int) -> Catalog:
    shares = np.array([c.share for c in CATEGORIES])
    cat = np.sort(rng.choice(len(CATEGORIES), size=n, p=shares / shares.sum()))
    name = np.empty(n, dtype=object)
    brand = np.empty(n, dtype=object)
    desc = np.empty(n, dtype=object)
    price = np.empty(n)
    popularity = np.empty(n)
    price_rank = np.empty(n)
    for k, c in enumerate(CATEGORIES):
        m = np.flatnonzero(cat == k)
        if m.size == 0:
            continue
        b = np.array(c.brands, dtype=object)[rng.integers(0, len(c.brands), m.size)]
        noun = np.array(c.nouns, dtype=object)[rng.integers(0, len(c.nouns), m.size)]
        adj = np.array(c.adjectives, dtype=object)[rng.integers(0, len(c.adjectives), m.size)]
        feats = np.array(c.features, dtype=object)
        f1 = feats[rng.integers(0, len(feats), m.size)]
        f2 = feats[rng.integers(0, len(feats), m.size)]
        model = rng.integers(100, 999, m.size).astype(str)
        brand[m] = b
        name[m] = b + " " + adj + " " + noun + " " + model
        desc[m] = (
            "A "
            + adj
            + " "
            + noun
            + " by "
            + b
            + " for everyday "
            + c.name.replace("_", " ")
            + ". Features: "
            + f1
            + ", "
            + f2
            + "."
        )
        p = np.exp(rng.normal(np.log(c.median_price), c.sigma, m.size))
        # Round to retail-looking prices: most end in .99, some are whole.
        p = np.where(rng.random(m.size) < 0.7, np.floor(p) + 0.99, np.round(p, 0))
        price[m] = np.maximum(p, 0.99)
        popularity[m] = 1.0 / (rng.permutation(m.size) + 1.0) ** 0.9
        price_rank[m] = (np.argsort(np.argsort(price[m])) + 0.5) / m.size
    launch = np.where(rng.random(n) < 0.10, rng.integers(1, max(days, 2), n), 0)
    return Catalog(
        product_id=ids("P", np.arange(1, n + 1), 6),
        name=name,
        category=cat,
        brand=brand,
        description=desc,
        price=price,
        popularity=popularity,
        price_rank=price_rank,
        quality=rng.normal(0.0, 1.0, n),
        launch_day=launch,
    )


class ProductSampler:
    """Draws products by (category, price tier) among the launched products."""

    def __init__(self, catalog: Catalog, day: int) -> None:
        self.catalog = catalog
        live = catalog.launch_day <= day
        n_cat = len(CATEGORIES)
        self.members: list[np.ndarray] = []
        self.cdfs: list[np.ndarray] = []
        for k in range(n_cat):
            m = np.flatnonzero((catalog.category == k) & live)
            if m.size == 0:  # tiny catalogues: fall back to anything on sale
                m = np.flatnonzero(live)
            pr = catalog.price_rank[m]
            base = catalog.popularity[m]
            # Tiers tilt towards cheap or dear items strongly, so spend separates groups.
            for w in (base * np.exp(-5.0 * pr), base, base * np.exp(5.0 * pr)):
                self.members.append(m)
                self.cdfs.append(np.cumsum(w) / w.sum())

    def sample(self, rng: np.random.Generator, category: np.ndarray, tier: np.ndarray) -> np.ndarray:
        out = np.empty(category.shape[0], dtype=np.int64)
        u = rng.random(category.shape[0])
        combo = category * len(TIERS) + tier
        for c in np.unique(combo):
            sel = combo == c
            idx = np.searchsorted(self.cdfs[c], u[sel], side="right")
            out[sel] = self.members[c][np.minimum(idx, self.members[c].size - 1)]
        return out


PRICE_UPDATE_RATE = 0.004  # per product and day


def catalog_rows(
    rng: np.random.Generator, catalog: Catalog, day: int, start_sec: int
) -> tuple[dict[str, np.ndarray], int, int]:
    """Product rows delivered on ``day``: the catalogue (day 0), launches and price changes.

    Price changes are applied to ``catalog.price`` so the day's orders use them.
    Returns the rows, the number of launches and the number of price updates.
    """
    day_sec = start_sec + day * 86_400
    launched = np.flatnonzero(catalog.launch_day == day)
    if day == 0:
        ts_new = day_sec - rng.integers(3600, 300 * 86_400, launched.size)
        updates = np.zeros(0, dtype=np.int64)
    else:
        ts_new = day_sec + rng.integers(0, 86_000, launched.size)
        updates = np.flatnonzero((catalog.launch_day < day) & (rng.random(catalog.size) < PRICE_UPDATE_RATE))
        new_price = catalog.price[updates] * np.exp(rng.normal(0.0, 0.12, updates.size))
        catalog.price[updates] = np.maximum(np.floor(new_price) + 0.99, 0.99)
    who = np.concatenate([launched, updates])
    ts = np.concatenate([ts_new, day_sec + rng.integers(0, 7200, updates.size)])
    order = np.argsort(ts, kind="stable")
    who, ts = who[order], ts[order]
    rows = {
        "product_id": catalog.product_id[who].astype(object),
        "name": catalog.name[who],
        "category": np.array(CATEGORY_NAMES, dtype=object)[catalog.category[who]],
        "brand": catalog.brand[who],
        "price": money(catalog.price[who]).astype(object),
        "description": catalog.description[who],
        "updated_at": ts_objects(ts),
        "_ts": ts,
        "_price": catalog.price[who].copy(),
    }
    return rows, int(launched.size), int(updates.size)

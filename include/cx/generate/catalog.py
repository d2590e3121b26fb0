"""Product catalogue: categories with their words, brands and price levels.

Prices are log-normal per category; every product also has a popularity weight
(Zipf within its category) and a latent quality that drives review ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


CATEGORIES: tuple[Category, ...] = (
    Category(
        "electronics",
        120.0,
        0.8,
        0.12,
        ("Voltix", "Sonara", "Pixelon", "Nordtek", "Ampere & Co"),
        ("headphones", "speaker", "smartwatch", "charger", "keyboard", "webcam", "e-reader"),
        ("wireless", "compact", "noise-cancelling", "fast", "smart", "portable"),
        ("bluetooth 5.3", "20h battery", "USB-C charging", "2-year warranty", "low latency"),
    ),
    Category(
        "home_kitchen",
        45.0,
        0.7,
        0.11,
        ("Casa Viva", "Kuechenwerk", "Maison Clair", "HomeNest"),
        ("frying pan", "knife set", "coffee grinder", "kettle", "blender", "storage jar"),
        ("stainless", "non-stick", "ceramic", "electric", "classic", "stackable"),
        ("dishwasher safe", "induction ready", "BPA free", "easy to clean", "1.7 litre"),
    ),
    Category(
        "fashion",
        40.0,
        0.6,
        0.12,
        ("Urbano", "Linnea", "Atelier Roux", "Streetline", "Mode 9"),
        ("t-shirt", "jeans", "sneakers", "jacket", "scarf", "dress", "hoodie"),
        ("slim-fit", "organic cotton", "oversized", "waterproof", "linen", "vintage"),
        ("machine washable", "regular fit", "recycled fabric", "sizes XS to XXL"),
    ),
    Category(
        "beauty",
        22.0,
        0.6,
        0.08,
        ("Belle Rose", "Purelab", "Glowa", "Derma Nord"),
        ("face cream", "shampoo", "serum", "lipstick", "perfume", "body lotion"),
        ("hydrating", "vegan", "fragrance-free", "repairing", "natural", "matte"),
        ("dermatologically tested", "50 ml", "for all skin types", "cruelty free"),
    ),
    Category(
        "sports_outdoors",
        60.0,
        0.8,
        0.09,
        ("Peakline", "Trailfox", "Aqua Sport", "Fjellgear"),
        ("yoga mat", "running shoes", "tent", "backpack", "water bottle", "bike helmet"),
        ("lightweight", "breathable", "insulated", "foldable", "durable", "ergonomic"),
        ("2 person", "30 litre", "anti-slip", "reflective details", "UV protection"),
    ),
    Category(
        "toys_games",
        28.0,
        0.7,
        0.08,
        ("Playmo Kids", "Brickwise", "Funtastic", "Kinderhaus"),
        ("board game", "puzzle", "building set", "plush toy", "card game", "doll house"),
        ("educational", "colourful", "wooden", "family", "classic", "creative"),
        ("ages 6+", "1000 pieces", "2-6 players", "non-toxic paint"),
    ),
    Category(
        "books",
        16.0,
        0.4,
        0.10,
        ("Papier Verlag", "Inkwell Press", "Edition Lune", "Bookhaus"),
        ("novel", "cookbook", "travel guide", "biography", "comic", "notebook"),
        ("bestselling", "illustrated", "hardcover", "paperback", "award-winning"),
        ("352 pages", "signed edition", "large print", "with photos"),
    ),
    Category(
        "groceries",
        9.0,
        0.5,
        0.07,
        ("Bio Garten", "Dolce Vita", "Nordic Pantry", "Kaffeehaus"),
        ("coffee beans", "olive oil", "green tea", "pasta", "dark chocolate", "honey"),
        ("organic", "fair-trade", "premium", "single-origin", "artisan"),
        ("500 g", "cold pressed", "best before 12 months", "gluten free"),
    ),
    Category(
        "garden",
        35.0,
        0.8,
        0.06,
        ("Gruenland", "Jardin Soleil", "GreenThumb", "Terra"),
        ("garden hose", "plant pot", "pruning shears", "seed kit", "solar lamp", "lawn sprinkler"),
        ("weatherproof", "ceramic", "telescopic", "eco", "self-watering"),
        ("frost resistant", "25 m", "rust-free blades", "includes stand"),
    ),
    Category(
        "pet_supplies",
        20.0,
        0.6,
        0.06,
        ("Pawsome", "Katzenliebe", "Doggo", "PetNest"),
        ("dog bed", "cat tree", "leash", "pet food", "chew toy", "litter box"),
        ("orthopaedic", "washable", "grain-free", "sturdy", "cosy"),
        ("for large dogs", "2 kg", "non-slip base", "vet approved"),
    ),
    Category(
        "office",
        18.0,
        0.7,
        0.06,
        ("Scriptor", "Bureau Plus", "Papeterie Lyon", "DeskPro"),
        ("fountain pen", "desk lamp", "planner", "office chair", "monitor stand", "stapler"),
        ("ergonomic", "adjustable", "minimalist", "refillable", "LED"),
        ("A5 format", "height adjustable", "refill included", "dimmable"),
    ),
    Category(
        "jewelry",
        85.0,
        0.9,
        0.05,
        ("Aurelia", "Silberwerk", "Lumen & Stone", "Orfevre"),
        ("necklace", "ring", "earrings", "bracelet", "watch"),
        ("sterling silver", "gold-plated", "handmade", "minimalist", "engraved"),
        ("gift box included", "hypoallergenic", "adjustable length", "925 silver"),
    ),
)
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

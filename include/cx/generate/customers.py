"""Customer population (static draws) and the daily CRM export.

Existing customers arrive on the first day; sign-ups on their signup day; a share is
re-delivered later with a newer ``updated_at`` and changed attributes (upserts).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cx.generate.catalog import CATEGORIES, Catalog, ProductSampler
from cx.generate.formatting import date_objects, ids, ts_objects
from cx.generate.groups import GROUPS, LAPSED, NEW, column

DAY = 86_400
COUNTRIES: dict[str, tuple[float, str, tuple[tuple[str, str], ...]]] = {
    # country: (weight, language, ((region, city), ...))
    "DE": (
        0.30,
        "de",
        (
            ("Bayern", "München"),
            ("Berlin", "Berlin"),
            ("Hamburg", "Hamburg"),
            ("Nordrhein-Westfalen", "Köln"),
            ("Hessen", "Frankfurt am Main"),
            ("Sachsen", "Leipzig"),
        ),
    ),
    "FR": (
        0.15,
        "fr",
        (
            ("Île-de-France", "Paris"),
            ("Auvergne-Rhône-Alpes", "Lyon"),
            ("Provence-Alpes-Côte d'Azur", "Marseille"),
            ("Occitanie", "Toulouse"),
        ),
    ),
    "ES": (
        0.12,
        "es",
        (
            ("Madrid", "Madrid"),
            ("Cataluña", "Barcelona"),
            ("Andalucía", "Sevilla"),
            ("Comunidad Valenciana", "Valencia"),
        ),
    ),
    "GB": (
        0.14,
        "en",
        (("England", "London"), ("England", "Manchester"), ("Scotland", "Edinburgh"), ("Wales", "Cardiff")),
    ),
    "NL": (0.08, "en", (("Noord-Holland", "Amsterdam"), ("Zuid-Holland", "Rotterdam"), ("Utrecht", "Utrecht"))),
    "AT": (0.07, "de", (("Wien", "Wien"), ("Steiermark", "Graz"), ("Tirol", "Innsbruck"))),
    "IT": (0.06, "en", (("Lombardia", "Milano"), ("Lazio", "Roma"), ("Piemonte", "Torino"))),
    "BE": (0.04, "fr", (("Bruxelles", "Bruxelles"), ("Wallonie", "Liège"), ("Vlaanderen", "Antwerpen"))),
    "IE": (0.04, "en", (("Leinster", "Dublin"), ("Munster", "Cork"))),
}
FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "de": ("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lena", "Paul", "Jürgen", "Käthe", "Emma", "Leon"),
    "fr": ("Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Gabriel", "Zoé", "Théo"),
    "es": ("Lucía", "Hugo", "Martina", "Pablo", "Sofía", "Álvaro", "Carmen", "Javier", "Elena", "Diego"),
    "en": ("Olivia", "Jack", "Amelia", "Harry", "Isla", "Noah", "Emily", "George", "Sean", "Aoife", "Luca", "Giulia"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Schäfer", "Koch", "Wagner"),
    "fr": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Lefèvre", "Moreau", "Girard", "Faure", "Roux"),
    "es": ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
    "en": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Murphy", "Kelly", "Wilson", "Rossi", "de Vries"),
}
EMAIL_DOMAINS = ("gmail.com", "web.de", "gmx.net", "orange.fr", "yahoo.com", "outlook.com", "hotmail.es", "icloud.com")
LANGS = ("en", "de", "fr", "es")


def _slug(name: str) -> str:
    """ASCII local-part for e-mail addresses (Müller -> muller, de Vries -> devries)."""
    text = name.replace("ü", "ue").replace("ä", "ae").replace("ö", "oe").replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


@dataclass
class Population:
    """Static attributes of every customer, including those who sign up later."""

    customer_id: np.ndarray
    group: np.ndarray
    country: np.ndarray  # country code
    language: np.ndarray  # index into LANGS
    region: np.ndarray
    city: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray
    gender: np.ndarray
    birth_date: np.ndarray
    signup_day: np.ndarray  # day index (negative = before the run)
    signup_sec: np.ndarray
    lapse_day: np.ndarray
    login_day: np.ndarray  # browsing sessions before this day are anonymous
    activity: np.ndarray  # personal multiplier on all rates (includes the run's activity level)
    taste_cdf: np.ndarray  # (n, categories) cumulative category preference
    favourites: np.ndarray  # (n, 3) product indices bought again and again
    anonymous_id: np.ndarray
    delivered: np.ndarray  # bool: CRM row already exported
    level: float = 1.0  # the run's activity level: scales rates that are not personal (visitors, pre-signup)
    # Identifying attributes and consent (cx.generate.people.add_people, own stream).
    phone: np.ndarray | None = None  # national significant digits, None: no phone
    phone_text: np.ndarray | None = None  # as the CRM holds it
    address: np.ndarray | None = None
    postcode: np.ndarray | None = None
    consent: np.ndarray | None = None  # as the CRM spells it, None: unknown
    consent_date: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.customer_id.shape[0])

    def taste_sample(self, rng: np.random.Generator, who: np.ndarray) -> np.ndarray:
        """One category per entry of ``who`` from that customer's taste."""
        u = rng.random(who.shape[0])[:, None]
        return np.minimum((self.taste_cdf[who] < u).sum(axis=1), len(CATEGORIES) - 1)


def anonymous_ids(index: np.ndarray) -> np.ndarray:
    """Opaque device ids: an odd-multiplier bijection on 40 bits, rendered in hex."""
    if len(index) == 0:
        return np.zeros(0, dtype="U12")
    mixed = (np.asarray(index, dtype=np.uint64) * np.uint64(0x9E3779B97F) + np.uint64(0x5DEECE66D)) % np.uint64(1 << 40)
    return np.strings.add("a-", np.char.zfill(np.char.mod("%x", mixed.astype(np.int64)), 10))


def build_population(
    rng: np.random.Generator,
    n: int,
    days: int,
    start_sec: int,
    catalog: Catalog,
    anonymous_pool: int,
    level: float = 1.0,
) -> Population:
    """Every customer's static draws; ``activity`` multiplies each personal order and browsing rate."""
    if n >= 90_000_000:
        raise ValueError("at most 89,999,999 customers (ids above are reserved for defects)")
    shares = column("share")
    group = rng.choice(len(GROUPS), size=n, p=shares / shares.sum())
    country, language, region, city, first, last = _places_and_names(rng, n)
    email = _emails(rng, first, last)
    gender = np.array(["F", "M", None], dtype=object)[rng.choice(3, size=n, p=[0.48, 0.47, 0.05])]
    birth = start_sec // DAY - rng.integers(18 * 365, 80 * 365, n)
    birth_date = np.where(rng.random(n) < 0.06, None, date_objects(birth))

    new = group == NEW
    signup_day = np.where(
        new, rng.integers(int(days * 0.8), max(days, int(days * 0.8) + 1), n), -rng.integers(20, 1500, n)
    )
    signup_day = np.minimum(signup_day, days - 1)
    signup_sec = start_sec + signup_day * DAY + rng.integers(6 * 3600, 23 * 3600, n)
    lapse_day = np.where(group == LAPSED, (rng.uniform(0.2, 0.4, n) * days).astype(np.int64), 1 << 40)
    login_day = np.where(new, signup_day, np.where(rng.random(n) < 0.25, rng.integers(0, max(days, 1), n), -(1 << 40)))
    # Times 1.0 is exact, so the default level draws the very same rates as before the knob existed.
    activity = rng.gamma(20.0, 1.0 / 20.0, n) * float(level)

    taste_cdf = _taste_cdf(rng, n)

    pop = Population(
        customer_id=ids("C", np.arange(1, n + 1), 8).astype(object),
        group=group,
        country=country,
        language=language,
        region=region,
        city=city,
        first_name=first,
        last_name=last,
        email=email,
        gender=gender,
        birth_date=birth_date,
        signup_day=signup_day,
        signup_sec=signup_sec,
        lapse_day=lapse_day,
        login_day=login_day,
        activity=activity,
        taste_cdf=taste_cdf,
        favourites=np.zeros((n, 3), dtype=np.int64),
        anonymous_id=anonymous_ids(np.arange(n) + anonymous_pool).astype(object),
        delivered=np.zeros(n, dtype=bool),
        level=float(level),
    )
    sampler = ProductSampler(catalog, 0)
    tier = np.array([g.tier for g in GROUPS])[group]
    who = np.repeat(np.arange(n), 3)
    pop.favourites = sampler.sample(rng, pop.taste_sample(rng, who), np.repeat(tier, 3)).reshape(n, 3)
    return pop


def _places_and_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Country, language index, region, city, first and last name of ``n`` customers."""
    codes = np.array(list(COUNTRIES), dtype=object)
    weights = np.array([v[0] for v in COUNTRIES.values()])
    country_idx = rng.choice(len(codes), size=n, p=weights / weights.sum())
    country = codes[country_idx]
    language = np.empty(n, dtype=np.int64)
    region = np.empty(n, dtype=object)
    city = np.empty(n, dtype=object)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for k, (_code, (_, lang, places)) in enumerate(COUNTRIES.items()):
        m = np.flatnonzero(country_idx == k)
        language[m] = LANGS.index(lang)
        pick = rng.integers(0, len(places), m.size)
        region[m] = np.array([p[0] for p in places], dtype=object)[pick]
        city[m] = np.array([p[1] for p in places], dtype=object)[pick]
        first[m] = np.array(FIRST_NAMES[lang], dtype=object)[rng.integers(0, len(FIRST_NAMES[lang]), m.size)]
        last[m] = np.array(LAST_NAMES[lang], dtype=object)[rng.integers(0, len(LAST_NAMES[lang]), m.size)]
    return country, language, region, city, first, last


def _taste_cdf(rng: np.random.Generator, n: int) -> np.ndarray:
    """Each customer's cumulative category weights: a few favourite categories carry almost all the weight."""
    n_cat = len(CATEGORIES)
    cat_share = np.array([c.share for c in CATEGORIES])
    keys = np.log(rng.random((n, n_cat))) / cat_share  # weighted sampling without replacement
    top = np.argsort(-keys, axis=1)[:, :3]
    k_used = rng.choice([1, 2, 3], size=n, p=[0.35, 0.4, 0.25])
    w = np.full((n, n_cat), 0.04 / n_cat)
    strength = rng.dirichlet(np.full(3, 2.0), size=n) * (np.arange(3)[None, :] < k_used[:, None])
    strength /= strength.sum(axis=1, keepdims=True)
    np.put_along_axis(w, top, np.take_along_axis(w, top, axis=1) + 0.96 * strength, axis=1)
    return np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1).astype(np.float32)


def _emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    slug = np.vectorize(_slug, otypes=[object])
    uf, fi = np.unique(first.astype(str), return_inverse=True)
    ul, li = np.unique(last.astype(str), return_inverse=True)
    f = slug(uf)[fi]
    ln = slug(ul)[li]
    num = rng.integers(1, 999, first.shape[0]).astype(str).astype(object)
    dom = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), first.shape[0])]
    return f + "." + ln + num + "@" + dom


def crm_rows(
    rng: np.random.Generator,
    pop: Population,
    day: int,
    start_sec: int,
    update_rate: float = 0.004,
    on_move: Callable[[np.ndarray], None] | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """CRM rows delivered on ``day`` and how many of them are updates of known customers.
    ``on_move`` gets the people who moved (to give them a new address from its own stream)."""
    day_sec = start_sec + day * DAY
    if day == 0:
        initial = np.flatnonzero(pop.signup_day < 0)
        lag = rng.integers(3600, 200 * DAY, initial.size)
        updated = np.maximum(day_sec - lag, pop.signup_sec[initial] + 600)
    else:
        initial = np.zeros(0, dtype=np.int64)
        updated = np.zeros(0, dtype=np.int64)
    signups = np.flatnonzero(pop.signup_day == day)
    known = pop.delivered.copy()
    changed = np.flatnonzero(known & (rng.random(pop.size) < update_rate))
    moved = _apply_changes(rng, pop, changed)
    if on_move is not None:
        on_move(moved)
    who = np.concatenate([initial, signups, changed])
    ts = np.concatenate(
        [
            updated,
            pop.signup_sec[signups] + rng.integers(0, 600, signups.size),
            day_sec + rng.integers(0, DAY - 60, changed.size),
        ]
    )
    order = np.argsort(ts, kind="stable")
    who, ts = who[order], ts[order]
    pop.delivered[who] = True
    return _customer_frame(pop, who, ts), int(changed.size)


def _apply_changes(rng: np.random.Generator, pop: Population, who: np.ndarray) -> np.ndarray:
    """Moves, new e-mail addresses and name changes for re-delivered customers; returns who moved."""
    if who.size == 0:
        return who
    kind = rng.choice(3, size=who.size, p=[0.5, 0.3, 0.2])
    move = who[kind == 0]
    for i in move:  # few rows per day; places depend on the country
        places = COUNTRIES[pop.country[i]][2]
        region, city = places[int(rng.integers(0, len(places)))]
        pop.region[i], pop.city[i] = region, city
    mail = who[kind == 1]
    dom = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), mail.size)]
    pop.email[mail] = np.array([e.split("@")[0] for e in pop.email[mail]], dtype=object) + "@" + dom
    rename = who[kind == 2]
    for i in rename:
        lang = LANGS[pop.language[i]]
        pop.last_name[i] = LAST_NAMES[lang][int(rng.integers(0, len(LAST_NAMES[lang])))]
    return move


def _customer_frame(pop: Population, who: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
    def attr(values: np.ndarray | None) -> np.ndarray:
        return values[who] if values is not None else np.full(who.size, None, dtype=object)

    return {
        "customer_id": pop.customer_id[who],
        "email": pop.email[who],
        "phone": attr(pop.phone_text),
        "first_name": pop.first_name[who],
        "last_name": pop.last_name[who],
        "gender": pop.gender[who],
        "birth_date": pop.birth_date[who],
        "address": attr(pop.address),
        "postcode": attr(pop.postcode),
        "city": pop.city[who],
        "region": pop.region[who],
        "country": pop.country[who],
        "signup_date": date_objects(pop.signup_sec[who] // DAY),
        "marketing_consent": attr(pop.consent),
        "consent_date": attr(pop.consent_date),
        "updated_at": ts_objects(ts),
        "_ts": ts,
    }

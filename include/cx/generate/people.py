"""Identifying attributes of each person and how they are written.

Phones, postal addresses, postcodes and marketing consent for the CRM, plus the small
text transforms the planted identity records need (typos, nicknames, display names,
other e-mail addresses). :mod:`cx.generate.identity` plants the records.

All draws come from the caller's stream, never from the streams of the population,
orders or feedback, so adding these columns left the existing draws as they were.
"""

from __future__ import annotations

import numpy as np

from cx.generate.customers import COUNTRIES, DAY, EMAIL_DOMAINS, Population, _slug
from cx.generate.formatting import date_objects

# country: (calling code, national trunk prefix, mobile number's leading digits, digits after them)
PHONES: dict[str, tuple[str, str, tuple[str, ...], int]] = {
    "DE": ("49", "0", ("151", "160", "170", "171", "176"), 7),
    "FR": ("33", "0", ("6", "7"), 8),
    "ES": ("34", "", ("6",), 8),
    "GB": ("44", "0", ("7",), 9),
    "NL": ("31", "0", ("6",), 8),
    "AT": ("43", "0", ("650", "660", "664", "676"), 7),
    "IT": ("39", "", ("3",), 9),
    "BE": ("32", "0", ("47", "48", "49"), 7),
    "IE": ("353", "0", ("83", "85", "86", "87"), 7),
}
NO_PHONE_SHARE = 0.08
STREETS: dict[str, tuple[str, ...]] = {
    "de": ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Lindenallee", "Am Markt", "Bergstraße"),
    "fr": ("rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire", "rue des Écoles"),
    "es": ("Calle Mayor", "Calle del Sol", "Avenida de América", "Calle Real", "Plaza de España"),
    "en": ("High Street", "Church Road", "Station Road", "Park Lane", "Mill Lane", "Victoria Road"),
}
# Street number before the name (fr, en) or after it (de, es).
NUMBER_FIRST = {"de": False, "fr": True, "es": False, "en": True}
CONSENT_P = (0.5, 0.3, 0.2)  # true, false, unknown
# How CRM exports spell a yes / no: (yes, no, share of rows).
CONSENT_SPELLINGS = (("true", "false", 0.8), ("yes", "no", 0.08), ("1", "0", 0.07), ("Y", "N", 0.05))
NICKNAMES = {
    "Anna": "Anni",
    "Lukas": "Luki",
    "Sophie": "Sophia",
    "Jonas": "Joni",
    "Marie": "Mia",
    "Felix": "Flix",
    "Lena": "Leni",
    "Paul": "Pauli",
    "Jürgen": "Jürg",
    "Käthe": "Kathi",
    "Emma": "Emmi",
    "Leon": "Leo",
    "Camille": "Cam",
    "Louis": "Lou",
    "Gabriel": "Gabi",
    "Martina": "Tina",
    "Javier": "Javi",
    "Elena": "Ele",
    "Olivia": "Liv",
    "Amelia": "Millie",
    "Harry": "Haz",
    "Emily": "Em",
    "George": "Georgie",
    "Sean": "Shaun",
    "Aoife": "Effie",
    "Luca": "Luke",
    "Giulia": "Giuli",
}
KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "e": "wr",
    "i": "uo",
    "o": "ip",
    "u": "yi",
    "n": "bm",
    "m": "n",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "l": "k",
    "c": "xv",
}


def add_people(rng: np.random.Generator, pop: Population, start_sec: int) -> None:
    """Phones, addresses, postcodes and consent for every person of ``pop`` (in place)."""
    n = pop.size
    pop.phone = np.full(n, None, dtype=object)
    pop.phone_text = np.full(n, None, dtype=object)
    pop.address = np.empty(n, dtype=object)
    pop.postcode = np.empty(n, dtype=object)
    has_phone = rng.random(n) >= NO_PHONE_SHARE
    # The CRM mostly holds numbers as entered on sign-up: international, some national.
    style = rng.choice(5, size=n, p=[0.45, 0.2, 0.2, 0.1, 0.05])
    for country in COUNTRIES:
        m = np.flatnonzero(pop.country == country)
        if m.size == 0:
            continue
        numbers = mobile_numbers(rng, country, m.size)
        pop.phone[m] = np.where(has_phone[m], numbers, None)
        pop.phone_text[m] = [
            phone_text(x, country, int(st)) if ok else None
            for x, st, ok in zip(numbers, style[m], has_phone[m], strict=True)
        ]
        lang = COUNTRIES[country][1]
        pop.address[m] = addresses(rng, lang, m.size)
        pop.postcode[m] = postcodes(rng, country, m.size)
    consent = rng.choice(3, size=n, p=CONSENT_P)
    spelling = rng.choice(len(CONSENT_SPELLINGS), size=n, p=[s[2] for s in CONSENT_SPELLINGS])
    yes = np.array([s[0] for s in CONSENT_SPELLINGS], dtype=object)[spelling]
    no = np.array([s[1] for s in CONSENT_SPELLINGS], dtype=object)[spelling]
    pop.consent = np.where(consent == 0, yes, np.where(consent == 1, no, None))
    # The consent was given (or refused) on sign-up or within two months of it, never
    # after the run's start for those who signed up before it.
    signup = pop.signup_sec // DAY
    start_day = start_sec // DAY
    later = np.minimum(signup + rng.integers(0, 60, n), np.maximum(signup, start_day - 1))
    decided = np.where(pop.signup_day < 0, later, signup)
    pop.consent_date = np.where(consent < 2, date_objects(decided), None)


def _digits(rng: np.random.Generator, k: int, size: int) -> np.ndarray:
    return np.strings.zfill(rng.integers(0, 10**k, size).astype(str), k).astype(object)


def _letters(rng: np.random.Generator, k: int, size: int) -> np.ndarray:
    codes = rng.integers(65, 91, (size, k))
    return np.array(["".join(map(chr, row)) for row in codes.tolist()], dtype=object)


def mobile_numbers(rng: np.random.Generator, country: str, size: int) -> np.ndarray:
    """Mobile numbers' national significant digits (no trunk prefix, no calling code)."""
    _, _, leads, rest = PHONES[country]
    lead = np.array(leads, dtype=object)[rng.integers(0, len(leads), size)]
    return lead + _digits(rng, rest, size)


def phone_text(number: str, country: str, style: int) -> str:
    """``number`` as people write it: +49 170 1234567, +491701234567, 0170 1234567,
    0049 170 1234567, (0170) 123-4567 (national forms with the trunk prefix)."""
    code, trunk, _, _ = PHONES[country]
    head, tail = number[:3], number[3:]
    if style == 0:
        return f"+{code} {head} {tail}"
    if style == 1:
        return f"+{code}{number}"
    if style == 2:
        return f"{trunk}{head} {tail}" if trunk else f"{head} {tail}"
    if style == 3:
        return f"00{code} {head} {tail}"
    return f"({trunk}{head}) {tail[:3]}-{tail[3:]}"


def addresses(rng: np.random.Generator, lang: str, size: int) -> np.ndarray:
    """Street addresses in the language's order (number first in fr and en)."""
    streets = np.array(STREETS[lang], dtype=object)[rng.integers(0, len(STREETS[lang]), size)]
    numbers = rng.integers(1, 140, size).astype(str).astype(object)
    return numbers + " " + streets if NUMBER_FIRST[lang] else streets + " " + numbers


def postcodes(rng: np.random.Generator, country: str, size: int) -> np.ndarray:
    """Postcodes in the country's format (GB 'AB1 2CD', NL '1234 AB', IE 'D02 X285')."""
    lead = (rng.integers(1, 10, size)).astype(str).astype(object)
    if country in ("DE", "FR", "ES", "IT"):
        return lead + _digits(rng, 4, size)
    if country in ("AT", "BE"):
        return lead + _digits(rng, 3, size)
    if country == "NL":
        return lead + _digits(rng, 3, size) + " " + _letters(rng, 2, size)
    if country == "IE":
        return _letters(rng, 1, size) + _digits(rng, 2, size) + " " + _letters(rng, 1, size) + _digits(rng, 3, size)
    return _letters(rng, 2, size) + lead + " " + _digits(rng, 1, size) + _letters(rng, 2, size)  # GB


def move(rng: np.random.Generator, pop: Population, who: np.ndarray) -> None:
    """A new address and postcode for people who moved (their city is already new)."""
    for i in who:
        country = str(pop.country[i])
        pop.address[i] = addresses(rng, COUNTRIES[country][1], 1)[0]
        pop.postcode[i] = postcodes(rng, country, 1)[0]


def new_city(rng: np.random.Generator, country: str, current: str) -> tuple[str, str]:
    """Another (region, city) of the country, when it has one."""
    places = [p for p in COUNTRIES[country][2] if p[1] != current] or list(COUNTRIES[country][2])
    return places[int(rng.integers(0, len(places)))]


def typo(rng: np.random.Generator, text: str) -> str:
    """One slip of the keyboard: two letters swapped, one dropped, doubled or replaced
    by a neighbouring key. Always a different text."""
    if len(text) < 3:
        return text + text[-1:]
    for _ in range(8):
        k = int(rng.integers(1, len(text) - 1))  # never the first letter
        kind = int(rng.integers(0, 4))
        if kind == 0:
            out = text[:k] + text[k + 1] + text[k] + text[k + 2 :]
        elif kind == 1:
            out = text[:k] + text[k + 1 :]
        elif kind == 2:
            out = text[:k] + text[k] + text[k:]
        else:
            near = KEYBOARD_NEIGHBOURS.get(text[k].lower(), "e")
            out = text[:k] + near[int(rng.integers(0, len(near)))] + text[k + 1 :]
        if out != text:
            return out
    return text + text[-1]


def email_typo(rng: np.random.Generator, email: str) -> str:
    local, _, domain = email.partition("@")
    return typo(rng, local) + "@" + domain


def other_email(rng: np.random.Generator, first: str, last: str, current: str | None) -> str:
    """Another address of the same person (a new provider, a work address)."""
    domains = [d for d in EMAIL_DOMAINS if not (current or "").endswith("@" + d)]
    domain = domains[int(rng.integers(0, len(domains)))]
    style = int(rng.integers(0, 3))
    f, la = _slug(first), _slug(last)
    local = (f + la, f[:1] + "." + la, f + "_" + la)[style] + str(int(rng.integers(1, 99)))
    return local + "@" + domain


def messy_case(rng: np.random.Generator, email: str) -> str:
    """The same address typed with capitals or spaces (the cleaned address is equal)."""
    local, _, domain = email.partition("@")
    forms = (local.title() + "@" + domain, email.upper(), " " + email, email + " ", local.capitalize() + "@" + domain)
    return forms[int(rng.integers(0, len(forms)))]


def nickname(first: str) -> str:
    if first in NICKNAMES:
        return NICKNAMES[first]
    plain = _slug(first).capitalize()
    return plain if plain.lower() != first.lower() else first[:3] + "i"


def display_name(rng: np.random.Generator, first: str, last: str) -> str:
    """How a review platform shows a person: 'Anna M.', 'Anna Müller', 'anna_muller', 'Anna'."""
    return _one_of(
        rng, [0.4, 0.3, 0.15, 0.15], f"{first} {last[:1]}.", f"{first} {last}", f"{_slug(first)}_{_slug(last)}", first
    )


def requester_name(rng: np.random.Generator, first: str, last: str) -> str:
    """How a helpdesk records a name: 'Anna Müller', 'Müller, Anna', 'anna müller', 'A. Müller'."""
    return _one_of(
        rng,
        [0.55, 0.2, 0.15, 0.1],
        f"{first} {last}",
        f"{last}, {first}",
        f"{first} {last}".lower(),
        f"{first[:1]}. {last}",
    )


def _one_of(rng: np.random.Generator, weights: list[float], *styles: str) -> str:
    """One of ``styles``, drawn with ``weights``."""
    return styles[int(rng.choice(len(styles), p=weights))]

"""Review and support-ticket wording, composed from randomly combined parts.

A review is written in a style drawn from its rating (``STYLES``): praise, praise with
a flaw, "not bad", neutral, plain facts, mixed, complaint with a good point, "not good",
complaint, sarcasm, or a one-word body; the text follows the rating on average, not
one-to-one (phrase banks in :mod:`cx.generate.review_wording`). Some reviews carry typos
or no title. Sentences are sometimes separated by newlines and some phrases carry quotes
and commas, so CSV quoting is exercised.
"""

from __future__ import annotations

import numpy as np

from cx.generate.banks import load_bank
from cx.generate.review_wording import (
    BUT,
    CLOSERS,
    FACTS,
    INTENSIFIERS,
    LANGS,
    MINOR,
    NEGATIVE,
    NEUTRAL,
    NOT_BAD,
    NOT_GOOD,
    OPENERS,
    POSITIVE,
    SARCASM,
    SHORT,
    TITLES,
)

__all__ = ["INTENSIFIERS", "LANGS", "STYLES", "TICKET_TOPICS", "review_texts", "ticket_texts"]

# How a review of each rating is worded (a row per rating 1..5, shares summing to 1):
# the text follows the rating on average but not one-to-one, as in real shops, where
# three-star reviews are mixed or plain facts, four-star ones name a flaw, low ratings
# come sarcastic, and a few ratings contradict their text (a misclick, a review of the
# courier rather than the product).
STYLES: tuple[str, ...] = (
    "pos",
    "pos_minor",
    "not_bad",
    "neutral",
    "facts",
    "mixed",
    "neg_minor",
    "not_good",
    "neg",
    "sarcasm",
    "short_pos",
    "short_neu",
    "short_neg",
)
_STYLE_SHARE = np.array(
    [
        # pos  pos_m  n_bad  neutr  facts  mixed  neg_m  n_good neg    sarc   s_pos  s_neu  s_neg
        [0.01, 0.00, 0.00, 0.02, 0.02, 0.03, 0.05, 0.12, 0.55, 0.10, 0.00, 0.00, 0.10],  # 1
        [0.00, 0.00, 0.00, 0.06, 0.02, 0.10, 0.22, 0.20, 0.28, 0.07, 0.00, 0.00, 0.05],  # 2
        [0.00, 0.10, 0.04, 0.22, 0.12, 0.32, 0.10, 0.04, 0.00, 0.00, 0.00, 0.06, 0.00],  # 3
        [0.30, 0.32, 0.12, 0.07, 0.03, 0.05, 0.00, 0.00, 0.01, 0.00, 0.09, 0.01, 0.00],  # 4
        [0.60, 0.12, 0.04, 0.03, 0.02, 0.01, 0.00, 0.00, 0.015, 0.00, 0.16, 0.005, 0.00],  # 5
    ]
)
_MOOD = {
    "pos": "pos",
    "pos_minor": "pos",
    "not_bad": "pos",
    "neutral": "neu",
    "facts": "neu",
    "mixed": "neu",
    "neg_minor": "neg",
    "not_good": "neg",
    "neg": "neg",
    "sarcasm": "neg",
    "short_pos": "pos",
    "short_neu": "neu",
    "short_neg": "neg",
}
TYPO_SHARE = 0.12  # reviews with one or two misspelt words
LOWER_SHARE = 0.10  # reviews typed all lower-case
NO_TITLE_SHARE = 0.3


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(0, len(options), n)]


def _clauses(rng: np.random.Generator, bank: tuple[str, ...], lang: str, n: int) -> np.ndarray:
    """Clauses with an intensifier dropped into their ``{i}`` slot (or none)."""
    parts = [c.split("{i}") if "{i}" in c else [c, ""] for c in bank]
    pick = rng.integers(0, len(parts), n)
    head = np.array([p[0] for p in parts], dtype=object)[pick]
    tail = np.array([p[1] for p in parts], dtype=object)[pick]
    has_slot = np.array(["{i}" in c for c in bank])[pick]
    inten = np.where(has_slot, _pick(rng, INTENSIFIERS[lang], n), "")
    return head + inten + tail


def _sentence(clause: np.ndarray) -> np.ndarray:
    return np.array([c[:1].upper() + c[1:] + "." if c else "" for c in clause], dtype=object)


def _join(rng: np.random.Generator, *sentences: np.ndarray) -> np.ndarray:
    """Join non-empty sentences with a space, or a newline for some reviews."""
    n = sentences[0].shape[0]
    sep = np.where(rng.random(n) < 0.12, "\n", " ")
    out = []
    for i in range(n):
        out.append(sep[i].join(s[i] for s in sentences if s[i]))
    return np.array(out, dtype=object)


def _typos(rng: np.random.Generator, text: str) -> str:
    """One or two words misspelt: adjacent letters swapped, a letter dropped or doubled."""
    words = text.split(" ")
    for _ in range(int(rng.integers(1, 3))):
        i = int(rng.integers(0, len(words)))
        w = words[i]
        if len(w) < 4:
            continue
        j = int(rng.integers(1, len(w) - 2))
        kind = int(rng.integers(0, 3))
        words[i] = (
            w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            if kind == 0
            else w[:j] + w[j + 1 :]
            if kind == 1
            else w[:j] + w[j] + w[j:]
        )
    return " ".join(words)


def _style_body(rng: np.random.Generator, style: str, lg: str, k: int) -> np.ndarray:
    """``k`` review bodies of one style in language ``lg``."""
    np.full(k, "", dtype=object)
    mood = _MOOD[style]
    pos, neg = (lambda: _clauses(rng, POSITIVE[lg], lg, k)), (lambda: _clauses(rng, NEGATIVE[lg], lg, k))
    but = ", " + BUT[lg] + " "
    if style.startswith("short_"):
        return _pick(rng, SHORT[mood][lg], k)
    opener = np.where(rng.random(k) < 0.5, _pick(rng, OPENERS[mood][lg], k), "")
    closer = np.where(rng.random(k) < 0.5, _pick(rng, CLOSERS[mood][lg], k), "")
    facts = np.where(rng.random(k) < 0.3, _sentence(_pick(rng, FACTS[lg], k)), "")
    if style == "pos":
        return _join(rng, opener, _sentence(pos()), np.where(rng.random(k) < 0.5, _sentence(pos()), ""), closer)
    if style == "pos_minor":
        return _join(rng, opener, _sentence(pos() + but + _pick(rng, MINOR[lg], k)), facts, closer)
    if style == "not_bad":
        return _join(rng, _sentence(_pick(rng, NOT_BAD[lg], k)), facts)
    if style == "neutral":
        return _join(rng, opener, _sentence(_pick(rng, NEUTRAL[lg], k)), facts, closer)
    if style == "facts":
        return _join(rng, _sentence(_pick(rng, FACTS[lg], k)), np.where(rng.random(k) < 0.4, closer, ""))
    if style == "mixed":
        first_good = rng.random(k) < 0.5
        a, b = pos(), neg()
        return _join(rng, _sentence(np.where(first_good, a + but + b, b + but + a)), facts)
    if style == "neg_minor":
        return _join(rng, opener, _sentence(neg() + but + pos()), closer)
    if style == "not_good":
        return _join(rng, _sentence(_pick(rng, NOT_GOOD[lg], k)), np.where(rng.random(k) < 0.5, _sentence(neg()), ""))
    if style == "neg":
        return _join(rng, opener, _sentence(neg()), np.where(rng.random(k) < 0.5, _sentence(neg()), ""), closer)
    if style == "sarcasm":
        return _join(rng, _pick(rng, SARCASM[lg], k), np.where(rng.random(k) < 0.4, closer, ""))
    raise ValueError(f"unknown review style {style!r}")


def review_texts(rng: np.random.Generator, rating: np.ndarray, lang: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Titles and bodies for ``rating`` (1..5) in language ``lang`` (index into LANGS),
    worded in a style drawn from the rating's row of ``_STYLE_SHARE``; some titles are
    missing, some bodies misspelt or all lower-case."""
    n = rating.shape[0]
    title = np.full(n, None, dtype=object)
    body = np.empty(n, dtype=object)
    style = np.zeros(n, dtype=np.int64)
    for r in range(1, 6):
        m = np.flatnonzero(rating == r)
        style[m] = rng.choice(len(STYLES), size=m.size, p=_STYLE_SHARE[r - 1])
    for li, lg in enumerate(LANGS):
        for si, name in enumerate(STYLES):
            m = np.flatnonzero((lang == li) & (style == si))
            if m.size == 0:
                continue
            body[m] = _style_body(rng, name, lg, m.size)
            # A sarcastic review often has a "positive" title too ("Great...").
            mood = "pos" if name == "sarcasm" and rng.random() < 0.4 else _MOOD[name]
            has_title = rng.random(m.size) >= NO_TITLE_SHARE
            title[m[has_title]] = _pick(rng, TITLES[mood][lg], int(has_title.sum()))
    typo = np.flatnonzero(rng.random(n) < TYPO_SHARE)
    body[typo] = [_typos(rng, b) for b in body[typo]]
    lower = rng.random(n) < LOWER_SHARE
    body[lower] = [b.lower() for b in body[lower]]
    return title, body


# Support tickets (word_banks/tickets.json): topic -> (sentiment, subjects, problem
# clauses per language); "{o}" marks the order reference.
_TICKETS = load_bank("tickets")
TICKET_TOPICS: dict[str, tuple[str, dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = {
    name: (topic["sentiment"], topic["subjects"], topic["problems"]) for name, topic in _TICKETS["topics"].items()
}
TICKET_GREETINGS: dict[str, tuple[str, ...]] = _TICKETS["greetings"]
TICKET_EXTRA: dict[str, dict[str, tuple[str, ...]]] = _TICKETS["extra"]  # per sentiment, then language
TICKET_SIGNOFF: dict[str, tuple[str, ...]] = _TICKETS["signoff"]


def ticket_texts(
    rng: np.random.Generator, topic: np.ndarray, lang: np.ndarray, order_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Subjects and bodies for tickets of ``topic`` (index into TICKET_TOPICS), lang 0=en 1=de."""
    n = topic.shape[0]
    subject = np.empty(n, dtype=object)
    body = np.empty(n, dtype=object)
    names = list(TICKET_TOPICS)
    ref = np.where(order_id == None, "my last order", order_id).astype(object)  # noqa: E711
    for ti, name in enumerate(names):
        mood, subjects, problems = TICKET_TOPICS[name]
        for li, lg in enumerate(("en", "de")):
            m = np.flatnonzero((topic == ti) & (lang == li))
            k = m.size
            if k == 0:
                continue
            subj = _pick(rng, subjects[lg], k)
            subject[m] = [s.replace("{o}", r) for s, r in zip(subj, ref[m], strict=False)]
            problem = _sentence(
                np.array(
                    [p.replace("{o}", r) for p, r in zip(_pick(rng, problems[lg], k), ref[m], strict=False)],
                    dtype=object,
                )
            )
            extra = _pick(rng, TICKET_EXTRA[mood][lg], k)
            inten = _pick(rng, INTENSIFIERS[lg if lg in INTENSIFIERS else "en"], k)
            extra = np.array([e.replace("{i}", i) for e, i in zip(extra, inten, strict=False)], dtype=object)
            body[m] = _join(rng, _pick(rng, TICKET_GREETINGS[lg], k), problem, extra, _pick(rng, TICKET_SIGNOFF[lg], k))
    return subject, body

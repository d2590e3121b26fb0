"""Phrase banks of generated reviews, per language (``word_banks/reviews.json``).

Real reviews do not map one-to-one to their rating: a 4-star review names a flaw, a
3-star one may be only facts, a 1-star one can be sarcastic praise, and some ratings
contradict their text outright. The banks give :mod:`cx.generate.texts` the parts for
those styles. Clauses are lower-case fragments unless a whole sentence; "{i}" marks
where an intensifier may go.
"""

from __future__ import annotations

from cx.generate.banks import load_bank

_BANK = load_bank("reviews")

LANGS: tuple[str, ...] = _BANK["langs"]
BUT: dict[str, str] = _BANK["but"]
INTENSIFIERS: dict[str, tuple[str, ...]] = _BANK["intensifiers"]
# Clauses with an intensifier slot, per language.
POSITIVE: dict[str, tuple[str, ...]] = _BANK["positive"]
NEGATIVE: dict[str, tuple[str, ...]] = _BANK["negative"]
# Negations: mildly positive ("not bad") and negative ("not good") wording.
NOT_BAD: dict[str, tuple[str, ...]] = _BANK["not_bad"]
NOT_GOOD: dict[str, tuple[str, ...]] = _BANK["not_good"]
NEUTRAL: dict[str, tuple[str, ...]] = _BANK["neutral"]
# Per mood ("pos", "neg", "neu"), then per language.
OPENERS: dict[str, dict[str, tuple[str, ...]]] = _BANK["openers"]
CLOSERS: dict[str, dict[str, tuple[str, ...]]] = _BANK["closers"]
TITLES: dict[str, dict[str, tuple[str, ...]]] = _BANK["titles"]
# Small flaws that 4-star (and some 5-star) reviews mention after the praise.
MINOR: dict[str, tuple[str, ...]] = _BANK["minor"]
# Plain facts without an opinion: many 3-star (and some other) reviews are only this.
FACTS: dict[str, tuple[str, ...]] = _BANK["facts"]
# Sarcasm: positive words, negative meaning (1-2 stars); whole sentences.
SARCASM: dict[str, tuple[str, ...]] = _BANK["sarcasm"]
# Whole bodies of one or two words (or an emoji), per mood.
SHORT: dict[str, dict[str, tuple[str, ...]]] = _BANK["short"]

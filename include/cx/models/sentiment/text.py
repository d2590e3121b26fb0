"""Text handling: documents from title and body, letter formulas, normalisation, tokens."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd

from cx.models import sentiment_lexicon
from cx.models.sentiment_lexicon import NEGATORS

# Letter formulas carry no sentiment but look polar to a review-trained model ("Best
# regards" after a complaint, "Thanks" closing a refund request): greeting up to its first
# punctuation, and sign-off with an optional short name, in the lexicon's seven languages.
_GREETINGS = (
    r"dear\b",
    r"hi\b",
    r"hello\b",
    r"hey\b",
    r"good (?:morning|afternoon|evening)\b",  # en
    r"sehr geehrte",
    r"liebe[rs]?\b",
    r"hallo\b",
    r"guten (?:tag|morgen|abend)\b",
    r"moin\b",  # de
    r"bonjour\b",
    r"bonsoir\b",
    r"madame\b",
    r"monsieur\b",  # fr
    r"hola\b",
    r"buen(?:os|as) (?:d[ií]as|tardes|noches)\b",
    r"estimad[oa]s?\b",  # es
    r"buongiorno\b",
    r"salve\b",
    r"gentil[ei]\b",
    r"ciao\b",  # it
    r"beste\b",
    r"geachte\b",
    r"goede(?:morgen|middag|navond)\b",  # nl
    r"ol[áa]\b",
    r"oi\b",
    r"prezad[oa]s?\b",
    r"bom dia\b",
    r"boa (?:tarde|noite)\b",  # pt
)
_SIGN_OFFS = (
    r"(?:best|kind|warm|many)\s+regards",
    r"regards",
    r"cheers",
    r"thanks(?: in advance)?",
    r"thank you",
    r"sincerely",
    r"(?:viele|liebe|beste|freundliche) gr(?:ü|ue)(?:ß|ss)e",
    r"mit freundlichen gr(?:ü|ue)(?:ß|ss)en",
    r"mfg",
    r"lg",
    r"danke(?: sch(?:ö|oe)n)?",
    r"cordialement",
    r"bien (?:à|a) vous",
    r"merci(?: d'avance| beaucoup)?",
    r"salutations",
    r"(?:un )?saludos?(?: cordiales)?",
    r"atentamente",
    r"gracias",
    r"cordiali saluti",
    r"distinti saluti",
    r"saluti",
    r"grazie(?: mille)?",
    r"met vriendelijke groet(?:en)?",
    r"groetjes",
    r"groeten",
    r"bedankt",
    r"atenciosamente",
    r"abra(?:ç|c)os",
    r"obrigad[oa]",
)
_GREETING = re.compile(r"^\s*(?:" + "|".join(_GREETINGS) + r")[^,.!?:\n]{0,40}[,.!:\n]", re.IGNORECASE)
_SIGN_OFF = re.compile(r"(?:^|[.!?\n,]\s*)(?:" + "|".join(_SIGN_OFFS) + r")[\s,.!]*(?:\w+[\s.]*){0,2}$", re.IGNORECASE)


def strip_salutations(text: str) -> str:
    """Drop an opening greeting and a closing sign-off (see ``_GREETING``/``_SIGN_OFF``)."""
    if not text:
        return text
    stripped = _SIGN_OFF.sub("", _GREETING.sub("", text, count=1)).strip()
    return stripped or text  # a text that is only a formula ("Thanks!") keeps it


def build_documents(texts: pd.DataFrame) -> pd.Series:
    """Title and body as one document (titles carry much of a review's polarity; a review
    may have only one of them), body without letter formulas."""
    title = texts["title"].astype("string").fillna("") if "title" in texts else ""
    body = texts["body"].astype("string").fillna("") if "body" in texts else ""
    if "body" in texts:  # once per distinct body: templated tickets and short reviews repeat
        body = body.map({b: strip_salutations(b) for b in body.unique()})
    doc = (title + " . " + body).str.strip(" .")
    return doc.astype("string").fillna("")


_QUOTES = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
# Emoji and pictographs, split off as tokens of their own ("super👍" -> "super 👍").
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff]")
# Variation selectors, skin tones, zero-width joiners: "👍🏽" and "❤️" mean "👍" and "❤".
_EMOJI_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\u200d]")
_ELONGATION = re.compile(r"(.)\1{2,}")
_SPACE = re.compile(r"\s+")
_WORD_TOKEN = re.compile(r"\w+(?:'\w+)*|[!?]+|[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]|[.;:,()]")
_CLAUSE = frozenset(".;:,()")


def normalise_text(text: str | None) -> str:
    """Unicode NFKC (full-width letters, ligatures, compatibility forms), case folding,
    one apostrophe and quote style, emoji without modifiers and spaced out, elongations
    capped at two ("sooooo goood!!!!" -> "soo good!!"). Accents are kept: "é" is signal
    for character n-grams, and folding it would merge words across languages."""
    if not text or not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = _EMOJI_MODIFIERS.sub("", text)
    text = _EMOJI.sub(lambda m: f" {m.group(0)} ", text)
    text = _ELONGATION.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


def word_features(doc: str, negation_scope: int = 3) -> list[str]:
    """Word unigrams and bigrams of a normalised document, "!"/"?" runs and emoji as
    words, and a negated copy ("neg_good") of the words within ``negation_scope`` after a
    negator of any of the lexicon's languages, up to the end of the clause; bigrams do not
    reach "not very good" or "nicht so wirklich gut"."""
    tokens = _WORD_TOKEN.findall(doc)
    words: list[str] = []
    out: list[str] = []
    scope = 0
    for token in tokens:
        if token in _CLAUSE:
            scope = 0
            words.append("|")  # no bigram across a clause break
            continue
        negator = _is_negator(token)
        if scope and not negator:
            out.append("neg_" + token)
            scope -= 1
        if negator:
            scope = negation_scope
        words.append(token)
        out.append(token)
    out.extend(f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a != "|" and b != "|")
    return out


@lru_cache(maxsize=1 << 18)
def _is_negator(token: str) -> bool:
    """A negator of any lexicon language (cached: folding is most of the per-token cost)."""
    folded = sentiment_lexicon.fold(token)
    return folded in NEGATORS or folded.endswith("n't") or folded.startswith("n'")


def char_wb_ngrams(word: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams of one word padded with spaces, as scikit-learn's ``char_wb``
    analyzer cuts them (a padded word shorter than n counts once, as itself)."""
    padded = f" {word} "
    size = len(padded)
    out: list[str] = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        out.extend(padded[i : i + n] for i in range(max(1, size - n + 1)))
        if size <= n:
            break
    return out

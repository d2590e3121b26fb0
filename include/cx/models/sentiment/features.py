"""TF-IDF features (character and word n-grams) plus the lexicon column, and seeded samples."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import normalize

from cx.models.sentiment.config import SentimentConfig
from cx.models.sentiment.text import char_wb_ngrams, word_features

log = logging.getLogger(__name__)

_UNIT_CACHE_LIMIT = 500_000  # distinct words whose term ids are kept (bounds memory)


class NgramTfidf:
    """Sublinear TF-IDF with smooth IDF and L2-normalised rows, the statistic of scikit-learn's
    ``TfidfVectorizer(sublinear_tf=True, min_df=..., max_features=...)`` (columns in term
    order, the ``max_features`` most frequent terms kept, ties by term), computed faster:

    - ``per_word``: a document's terms are the concatenated terms of its words (true of
      ``char_wb`` n-grams), so each distinct word is cut and looked up once, not once per
      occurrence (cutting every word of every text in Python was most of the stage's time);
    - ``fit`` takes a weight per document (how often the text occurs), so a repeated
      text is analysed once and still counts as often as it occurs.
    """

    def __init__(self, terms: Callable[[str], list[str]], *, per_word: bool, min_df: int, max_features: int):
        self.terms = terms
        self.per_word = per_word
        self.min_df = min_df
        self.max_features = max_features
        self.vocabulary_: dict[str, int] = {}
        self.idf_ = np.zeros(0, dtype=np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def _counts(
        self, docs: Sequence[str], vocabulary: dict[str, int], grow: bool, cache: dict[str, np.ndarray] | None
    ) -> sparse.csr_matrix:
        """Term counts of ``docs`` over ``vocabulary`` (new terms are added when ``grow``)."""
        parts: list[np.ndarray] = []
        indptr = [0]
        for doc in docs:
            n = indptr[-1]
            for unit in doc.split() if self.per_word else (doc,):
                ids = cache.get(unit) if cache is not None else None
                if ids is None:
                    terms = self.terms(unit)
                    ids = np.array(
                        [vocabulary.setdefault(t, len(vocabulary)) for t in terms]
                        if grow
                        else [j for t in terms if (j := vocabulary.get(t)) is not None],
                        dtype=np.int32,
                    )
                    if cache is not None:
                        if len(cache) >= _UNIT_CACHE_LIMIT:
                            cache.clear()
                        cache[unit] = ids
                parts.append(ids)
                n += ids.size
            indptr.append(n)
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        counts = sparse.csr_matrix(
            (np.ones(indices.size, dtype=np.float32), indices, np.asarray(indptr)), shape=(len(docs), len(vocabulary))
        )
        counts.sum_duplicates()  # repeated terms of a document -> one entry with their count
        return counts

    def fit(self, docs: Sequence[str], weights: np.ndarray) -> NgramTfidf:
        """Vocabulary and IDF of ``docs``, document i counted ``weights[i]`` times."""
        provisional: dict[str, int] = {}
        counts = self._counts(docs, provisional, grow=True, cache={} if self.per_word else None)
        w = np.asarray(weights, dtype=np.float64)
        present = counts.copy()
        present.data[:] = 1.0
        df = present.T @ w  # (weighted) documents containing each term
        keep = np.flatnonzero(df >= self.min_df)
        terms = np.array(list(provisional), dtype=object)  # by provisional id
        keep = keep[np.argsort(terms[keep], kind="stable")]  # columns in term order
        if len(keep) > self.max_features:
            tf = counts.T @ w
            top = np.argsort(-tf[keep], kind="stable")[: self.max_features]  # most frequent; ties by term
            keep = keep[np.sort(top)]
        if not len(keep):
            raise ValueError(f"no term occurs in min_df={self.min_df} documents")
        self.vocabulary_ = {str(term): j for j, term in enumerate(terms[keep])}
        self.idf_ = (np.log((w.sum() + 1.0) / (df[keep] + 1.0)) + 1.0).astype(np.float32)
        self._cache = {}
        return self

    def transform(self, docs: Sequence[str]) -> sparse.csr_matrix:
        x = self._counts(docs, self.vocabulary_, grow=False, cache=self._cache if self.per_word else None)
        np.log(x.data, out=x.data)
        x.data += 1.0  # sublinear tf: 1 + log(count)
        x.data *= self.idf_[x.indices]
        return normalize(x, norm="l2", copy=False)


def make_vectorizers(cfg: SentimentConfig) -> list[tuple[str, NgramTfidf]]:
    """Character n-grams inside word boundaries (spelling-, inflection- and language-robust)
    plus words, word pairs and negation scope; input is :func:`normalise_text` output."""

    def tfidf(terms: Callable[[str], list[str]], per_word: bool, max_features: int) -> NgramTfidf:
        return NgramTfidf(terms, per_word=per_word, min_df=cfg.min_df, max_features=max_features)

    return [
        ("char", tfidf(lambda word: char_wb_ngrams(word, cfg.char_ngram_range), True, cfg.char_max_features)),
        ("word", tfidf(lambda doc: word_features(doc, cfg.negation_scope), False, cfg.word_max_features)),
    ]


@dataclass(frozen=True)
class TextFeatures:
    """Fitted features: the TF-IDF parts of the document (title and body), the title's own
    words when there are titles, and the scaled lexicon score as one more column."""

    parts: tuple[NgramTfidf, ...]
    lexicon_weight: float
    title: NgramTfidf | None = None

    @property
    def n_features(self) -> int:
        return sum(len(p.vocabulary_) for p in (*self.parts, *([self.title] if self.title else []))) + 1

    def transform(
        self, normalised: Sequence[str], lexicon_score: np.ndarray, titles: Sequence[str] | None = None
    ) -> sparse.csr_matrix:
        lex_col = np.asarray(lexicon_score, dtype=np.float64).reshape(-1, 1) * self.lexicon_weight
        blocks = [p.transform(normalised) for p in self.parts]
        if self.title is not None:
            blocks.append(self.title.transform(titles if titles is not None else [""] * len(normalised)))
        return sparse.hstack([*blocks, sparse.csr_matrix(lex_col)], format="csr", dtype=np.float64)


def fit_features(
    normalised: Sequence[str], weights: np.ndarray, cfg: SentimentConfig, titles: Sequence[str] | None = None
) -> TextFeatures:
    """Vocabularies and IDF of the (weighted) normalised documents and titles; no labels
    involved. A title is the review's own verdict ("Runs small", "Love it!"): its words
    get columns of their own, apart from the same words in the body."""
    parts = []
    for name, part in make_vectorizers(cfg):
        try:
            parts.append(part.fit(normalised, weights))
        except ValueError as exc:  # e.g. no word repeats twice: the other part still works
            log.warning("sentiment: %s features skipped (%s)", name, exc)
    title = None
    if titles is not None and any(titles):
        try:
            title = NgramTfidf(
                lambda doc: word_features(doc, cfg.negation_scope),
                per_word=False,
                min_df=cfg.min_df,
                max_features=cfg.title_max_features,
            ).fit(titles, weights)
        except ValueError as exc:  # no title word repeats: the document parts still carry them
            log.warning("sentiment: title features skipped (%s)", exc)
    return TextFeatures(tuple(parts), cfg.lexicon_feature_weight, title)


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` rows drawn with a fixed seed, each label keeping its
    share (one row per label first, so a rare label never vanishes; the rest in proportion,
    largest remainders); all rows if there are no more than ``size``."""
    n = len(labels)
    if n <= size:
        return np.arange(n)
    _, inverse, counts = np.unique(np.asarray(labels, dtype=str), return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    if size < len(counts):
        return np.sort(rng.choice(n, size=size, replace=False))
    exact = (counts - 1) * (size - len(counts)) / (n - len(counts))
    quota = np.floor(exact).astype(int)
    quota[np.argsort(-(exact - quota), kind="stable")[: size - len(counts) - int(quota.sum())]] += 1
    picks = [rng.choice(np.flatnonzero(inverse == c), size=q + 1, replace=False) for c, q in enumerate(quota)]
    return np.sort(np.concatenate(picks))


def row_sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` of ``n`` rows (fixed seed), all rows if fewer."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def distinct_texts(docs: pd.Series, languages: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row -> index of its distinct (document, language) pair, and the first row of each:
    the lexicon and the features are functions of that pair, so each is computed once."""
    pair = docs.astype("string").fillna("") + "\x1f" + languages.astype("string").fillna("\x1e")
    codes, _ = pd.factorize(pair)
    first = np.unique(codes, return_index=True)[1]
    return codes.astype(np.int64), first

"""Multilingual sentiment of reviews and support tickets, learnt from the shop's own ratings.

Rated reviews are weak labels (1-2 negative, 3 neutral, 4-5 positive). A language-agnostic
classifier (TF-IDF character n-grams + word n-grams, multinomial logistic regression with
balanced class weights, since real ratings are mostly 5 stars) learns them, and scores
every review and ticket: score = P(positive) - P(negative), label = the likeliest class.
Character n-grams need no tokenizer, stemmer or language list, so the model works for
whatever languages the shop's customers write in.

Text handling: Unicode NFKC and case folding with accents kept, one apostrophe style,
emoji split off as tokens (without skin-tone/variation modifiers), elongations capped
("soooo!!!!" -> "soo!!"), letter formulas removed from bodies ("Dear team," ... "Best
regards" look positive to a review-trained model), title and body joined so title-only
reviews count. Words after a negator (any of the lexicon's languages) also enter as
"neg_<word>", which bigrams miss in "not very good".

The small built-in multilingual lexicon (:mod:`cx.models.sentiment_lexicon`) plays three
parts: one extra feature column of the model (prior knowledge that matters when ratings
are few), the baseline the model must beat in ``model_runs``, and the fallback: with too
few ratings, a single rating class, or when it beats the trained model on the held-out
rated reviews, the stage publishes the lexicon's scores and says why in ``model_runs``.

Evaluation is k-fold cross-fitting over the rated reviews (stratified, fixed seed; with
5 folds each fold is a 20% held-out slice): every rated review is scored by a model that
never saw it, which gives the held-out metrics (macro-F1 over the three labels, AUC of
the score for positive vs. the rest) and also makes the published scores of rated
reviews honest, so ``rating_conflict`` can flag text that contradicts its rating.
Tickets, unrated reviews and rated reviews outside the training sample are scored by a
final refit on the training sample (which never saw them).

Scale (the 100k-customer texts replicated 10x, 1.3M texts: ~2 CPU min and 1.8 GB peak;
scikit-learn's vectoriser on every text, one matrix of all texts and six fits on up to
200k reviews had used 7 CPU min and 10 GB when it was stopped):

- bounded samples, fixed seeds: the classifier trains on at most ``max_labelled`` rated
  reviews (stratified by label), and the TF-IDF vocabulary and IDF come from at most
  ``vocab_sample`` texts; below those sizes everything is used, as before;
- each distinct (document, language) is normalised, lexicon-scored and featurised once,
  and the same text gets the same score (unless it is a training review, which keeps its
  out-of-fold score);
- :class:`NgramTfidf` computes scikit-learn's sublinear TF-IDF (tested equal), but cuts the
  character n-grams of each distinct word once instead of every word of every text;
- the final model scores in batches of ``batch_size`` texts, so the feature matrix of all
  texts is never held at once.

Every run still re-scores all texts with that day's model (fixed seeds: a re-run on the
same texts gives the same partition); scoring only new texts would need the model, its
vocabulary and IDF fixed across days.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from cx.config import Settings, load_settings
from cx.model_runs import OUTPUT_SCHEMA, Metric, write_model_runs
from cx.models import sentiment_lexicon
from cx.models.sentiment_lexicon import LEXICON_VERSION, NEGATORS, LexiconConfig
from cx.warehouse import connect, read_df, replace_partition, table_exists

log = logging.getLogger(__name__)

MODEL = "sentiment"
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class SentimentConfig:
    """Hyperparameters of the sentiment stage (defaults are the production values)."""

    min_labelled: int = 200  # fewer rated reviews than this -> lexicon fallback
    # Cap on rated reviews used for training (a fixed-seed sample above it, stratified by
    # label); the rest are scored by the final model, which never saw them, so stay
    # honest. Six fits (5 folds + final) cost ~0.1 CPU s per 1,000 reviews, and beyond a
    # few tens of thousands more ratings no longer move the held-out metrics.
    max_labelled: int = 50_000
    # Texts the TF-IDF vocabulary and IDF are fitted on (a fixed-seed sample of all texts
    # above it): bounds the memory of the candidate n-grams; IDF from 150k texts is the
    # same statistic as from 1.3M, up to sampling noise on rare n-grams.
    vocab_sample: int = 150_000
    batch_size: int = 50_000  # texts featurised and scored at once: bounds the matrix in memory
    eval_folds: int = 5  # cross-fitting folds; 5 -> each held-out slice is 20%
    seed: int = 42
    char_ngram_range: tuple[int, int] = (2, 5)
    word_ngram_range: tuple[int, int] = (1, 2)
    char_max_features: int = 300_000
    word_max_features: int = 200_000
    min_df: int = 2
    C: float = 4.0  # weak L2: TF-IDF features are many and individually small
    # The lexicon score joins the text features as one more column: prior knowledge for
    # the seven languages it knows, which matters most when ratings are few. The model
    # learns how much to trust it; this only sets its scale next to TF-IDF values.
    lexicon_feature_weight: float = 1.0
    negation_scope: int = 3  # words after a negator that get a negated copy ("not very good")
    max_iter: int = 2000
    conflict_threshold: float = 0.5  # |score| that contradicts a rating (>= 4 or <= 2)
    lexicon: LexiconConfig = LexiconConfig()
    model_version: str = "charlr-v2"


@dataclass(frozen=True)
class SentimentResult:
    reviews: pd.DataFrame  # review_id, sentiment_score, sentiment_label, model_version, rating, rating_conflict
    tickets: pd.DataFrame  # ticket_id, sentiment_score, sentiment_label, model_version
    metrics: list[Metric]
    model_version: str
    fallback: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def rating_to_label(rating: pd.Series) -> pd.Series:
    """1-2 negative, 3 neutral, 4-5 positive; anything else (NULL, 0, 7) unlabelled."""
    r = pd.to_numeric(rating, errors="coerce")
    out = pd.Series(pd.NA, index=rating.index, dtype="string")
    out[r.isin([1, 2])] = "negative"
    out[r == 3] = "neutral"
    out[r.isin([4, 5])] = "positive"
    return out


def label_from_score(score: np.ndarray | pd.Series, neutral_band: float) -> np.ndarray:
    """Label a score in [-1, 1]: neutral inside (-band, band), else by sign."""
    s = np.asarray(score, dtype="float64")
    return np.where(s >= neutral_band, "positive", np.where(s <= -neutral_band, "negative", "neutral"))


# Letter formulas carry no sentiment but look polar to a review-trained model ("Best
# regards" after a complaint, "Thanks" closing a refund request): greeting up to its first
# punctuation, and sign-off with an optional short name, in the lexicon's seven languages.
_GREETINGS = (
    r"dear\b", r"hi\b", r"hello\b", r"hey\b", r"good (?:morning|afternoon|evening)\b",  # en
    r"sehr geehrte", r"liebe[rs]?\b", r"hallo\b", r"guten (?:tag|morgen|abend)\b", r"moin\b",  # de
    r"bonjour\b", r"bonsoir\b", r"madame\b", r"monsieur\b",  # fr
    r"hola\b", r"buen(?:os|as) (?:d[ií]as|tardes|noches)\b", r"estimad[oa]s?\b",  # es
    r"buongiorno\b", r"salve\b", r"gentil[ei]\b", r"ciao\b",  # it
    r"beste\b", r"geachte\b", r"goede(?:morgen|middag|navond)\b",  # nl
    r"ol[áa]\b", r"oi\b", r"prezad[oa]s?\b", r"bom dia\b", r"boa (?:tarde|noite)\b",  # pt
)
_SIGN_OFFS = (
    r"(?:best|kind|warm|many)\s+regards", r"regards", r"cheers", r"thanks(?: in advance)?", r"thank you", r"sincerely",
    r"(?:viele|liebe|beste|freundliche) gr(?:ü|ue)(?:ß|ss)e", r"mit freundlichen gr(?:ü|ue)(?:ß|ss)en",
    r"mfg", r"lg",
    r"danke(?: sch(?:ö|oe)n)?", r"cordialement", r"bien (?:à|a) vous", r"merci(?: d'avance| beaucoup)?",
    r"salutations", r"(?:un )?saludos?(?: cordiales)?", r"atentamente", r"gracias", r"cordiali saluti",
    r"distinti saluti", r"saluti", r"grazie(?: mille)?", r"met vriendelijke groet(?:en)?", r"groetjes", r"groeten",
    r"bedankt", r"atenciosamente", r"abra(?:ç|c)os", r"obrigad[oa]",
)
_GREETING = re.compile(r"^\s*(?:" + "|".join(_GREETINGS) + r")[^,.!?:\n]{0,40}[,.!:\n]", re.IGNORECASE)
_SIGN_OFF = re.compile(r"(?:^|[.!?\n,]\s*)(?:" + "|".join(_SIGN_OFFS) + r")[\s,.!]*(?:\w+[\s.]*){0,2}$",
                       re.IGNORECASE)


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


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'", "\u201c": '"', "\u201d": '"',
                         "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
# Emoji and pictographs, split off as tokens of their own ("super👍" -> "super 👍").
_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
# Variation selectors, skin tones, zero-width joiners: "👍🏽" and "❤️" mean "👍" and "❤".
_EMOJI_MODIFIERS = re.compile("[\uFE0E\uFE0F\U0001F3FB-\U0001F3FF\u200D]")
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
        out.extend(padded[i:i + n] for i in range(max(1, size - n + 1)))
        if size <= n:
            break
    return out


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

    def _counts(self, docs: Sequence[str], vocabulary: dict[str, int], grow: bool,
                cache: dict[str, np.ndarray] | None) -> sparse.csr_matrix:
        """Term counts of ``docs`` over ``vocabulary`` (new terms are added when ``grow``)."""
        parts: list[np.ndarray] = []
        indptr = [0]
        for doc in docs:
            n = indptr[-1]
            for unit in (doc.split() if self.per_word else (doc,)):
                ids = cache.get(unit) if cache is not None else None
                if ids is None:
                    terms = self.terms(unit)
                    ids = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in terms] if grow else
                                   [j for t in terms if (j := vocabulary.get(t)) is not None], dtype=np.int32)
                    if cache is not None:
                        if len(cache) >= _UNIT_CACHE_LIMIT:
                            cache.clear()
                        cache[unit] = ids
                parts.append(ids)
                n += ids.size
            indptr.append(n)
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        counts = sparse.csr_matrix((np.ones(indices.size, dtype=np.float32), indices, np.asarray(indptr)),
                                   shape=(len(docs), len(vocabulary)))
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
    return [
        ("char", NgramTfidf(lambda word: char_wb_ngrams(word, cfg.char_ngram_range), per_word=True,
                            min_df=cfg.min_df, max_features=cfg.char_max_features)),
        ("word", NgramTfidf(lambda doc: word_features(doc, cfg.negation_scope), per_word=False,
                            min_df=cfg.min_df, max_features=cfg.word_max_features)),
    ]


@dataclass(frozen=True)
class TextFeatures:
    """Fitted features: the TF-IDF parts and the scaled lexicon score as one more column."""

    parts: tuple[NgramTfidf, ...]
    lexicon_weight: float

    @property
    def n_features(self) -> int:
        return sum(len(p.vocabulary_) for p in self.parts) + 1

    def transform(self, normalised: Sequence[str], lexicon_score: np.ndarray) -> sparse.csr_matrix:
        lex_col = np.asarray(lexicon_score, dtype=np.float64).reshape(-1, 1) * self.lexicon_weight
        blocks = [p.transform(normalised) for p in self.parts]
        return sparse.hstack([*blocks, sparse.csr_matrix(lex_col)], format="csr", dtype=np.float64)


def fit_features(normalised: Sequence[str], weights: np.ndarray, cfg: SentimentConfig) -> TextFeatures:
    """Vocabularies and IDF of the (weighted) normalised documents; no labels involved."""
    parts = []
    for name, part in make_vectorizers(cfg):
        try:
            parts.append(part.fit(normalised, weights))
        except ValueError as exc:  # e.g. no word repeats twice: the other part still works
            log.warning("sentiment: %s features skipped (%s)", name, exc)
    return TextFeatures(tuple(parts), cfg.lexicon_feature_weight)


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


def _fit_classifier(x: sparse.spmatrix, y: np.ndarray, cfg: SentimentConfig) -> LogisticRegression:
    # lbfgs on >2 classes is the multinomial (softmax) model; balanced weights because
    # ratings are skewed to 5 stars and the minority classes are the interesting ones.
    clf = LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=cfg.max_iter,
                             random_state=cfg.seed, solver="lbfgs")
    # BLAS only does vector updates here; its threads just spin and fight the sparse
    # products (and the other Airflow tasks) for cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return clf.fit(x, y)


def _proba(clf: LogisticRegression | None, x: sparse.spmatrix, prior: np.ndarray) -> np.ndarray:
    """Class probabilities aligned to LABELS (a class unseen in training gets 0)."""
    if clf is None:
        return np.tile(prior, (x.shape[0], 1))
    out = np.zeros((x.shape[0], len(LABELS)))
    proba = clf.predict_proba(x)
    for j, cls in enumerate(clf.classes_):
        out[:, LABELS.index(str(cls))] = proba[:, j]
    return out


def _score_and_label(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score = np.clip(proba[:, LABELS.index("positive")] - proba[:, LABELS.index("negative")], -1.0, 1.0)
    return score, np.asarray(LABELS, dtype=object)[proba.argmax(axis=1)]


def evaluate(y_true: np.ndarray, score: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """Macro-F1 over the labels present in truth; ROC AUC of the score, positive vs rest."""
    # As integer codes (-1: not a label): scikit-learn sorts object labels in Python, which
    # took seconds per million reviews.
    truth = pd.Categorical(np.asarray(y_true, dtype=object), categories=LABELS).codes
    pred = pd.Categorical(np.asarray(y_pred, dtype=object), categories=LABELS).codes
    present = [code for code in range(len(LABELS)) if (truth == code).any()]
    macro_f1 = float(f1_score(truth, pred, labels=present, average="macro", zero_division=0)) if present else None
    is_pos = truth == LABELS.index("positive")
    auc = float(roc_auc_score(is_pos, score)) if 0 < is_pos.sum() < len(is_pos) else None
    return {"macro_f1": macro_f1, "roc_auc": auc}


def rating_conflicts(rating: pd.Series, score: np.ndarray, threshold: float) -> np.ndarray:
    """Text strongly contradicting its rating: rating >= 4 with score < -t, or <= 2 with > t."""
    r = pd.to_numeric(rating, errors="coerce").to_numpy(dtype="float64")
    s = np.asarray(score, dtype="float64")
    with np.errstate(invalid="ignore"):
        return ((r >= 4) & (s < -threshold)) | ((r <= 2) & (s > threshold))


def _crossfit(
    x: sparse.csr_matrix, y: np.ndarray, cfg: SentimentConfig
) -> tuple[np.ndarray, int]:
    """Out-of-fold class probabilities for the labelled rows."""
    counts = pd.Series(y).value_counts()
    n_splits = int(min(cfg.eval_folds, max(2, counts.min()), len(y)))
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=cfg.seed)
    oof = np.zeros((len(y), len(LABELS)))
    with warnings.catch_warnings():
        # A class rarer than n_splits is allowed: it is simply absent from some folds.
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splits = list(skf.split(np.zeros(len(y)), y))
    for train, test in splits:
        y_train = y[train]
        prior = np.array([(y_train == lab).mean() for lab in LABELS])
        clf = _fit_classifier(x[train], y_train, cfg) if len(np.unique(y_train)) >= 2 else None
        oof[test] = _proba(clf, x[test], prior)
    return oof, n_splits


def score_texts(texts: pd.DataFrame, cfg: SentimentConfig) -> SentimentResult:
    """Score every review and ticket of ``texts`` (marts.fct_texts columns)."""
    texts = texts.copy()
    texts["source"] = texts["source"].astype("string").str.strip().str.lower()
    texts = texts.loc[texts["source"].isin(["review", "ticket"])]
    texts = texts.drop_duplicates(["source", "text_id"], keep="last").reset_index(drop=True)
    docs = build_documents(texts)
    empty = (docs.str.len() == 0).to_numpy()
    is_review = (texts["source"] == "review").to_numpy()
    rating = pd.to_numeric(texts["rating"], errors="coerce") if "rating" in texts else pd.Series(
        np.nan, index=texts.index)
    labels = rating_to_label(rating).where(is_review)
    labelled = (labels.notna().to_numpy() & ~empty)
    languages = texts["language"] if "language" in texts else pd.Series(None, index=texts.index)

    distinct, first = distinct_texts(docs, languages)
    distinct_docs = docs.iloc[first].tolist()
    distinct_lexicon = sentiment_lexicon.score_texts(distinct_docs, languages.iloc[first].tolist(), cfg.lexicon)
    lexicon_score = distinct_lexicon[distinct]
    lexicon_label = label_from_score(lexicon_score, cfg.lexicon.neutral_threshold())
    y = labels[labelled].to_numpy(dtype=object)
    class_counts = {lab: int((y == lab).sum()) for lab in LABELS}
    n_classes = sum(1 for c in class_counts.values() if c)

    details: dict[str, Any] = {
        "labelled_reviews": int(labelled.sum()),
        "class_counts": class_counts,
        "languages": languages.astype("string").fillna("unknown").value_counts().head(10).to_dict(),
    }
    fallback: str | None = None
    if labelled.sum() < cfg.min_labelled or n_classes < 2:
        fallback = "lexicon"
        reason = (f"{int(labelled.sum())} rated reviews < min_labelled={cfg.min_labelled}"
                  if labelled.sum() < cfg.min_labelled else f"only {n_classes} rating class(es)")
        details.update({"fallback": fallback, "reason": reason})
        version = LEXICON_VERSION
        score, label = lexicon_score.copy(), lexicon_label.astype(object)
        model_eval = evaluate(y, score[labelled], label[labelled]) if labelled.any() else {}
        details["evaluation"] = "lexicon on all rated reviews (no model trained)"
    else:
        version = cfg.model_version
        normalised = [normalise_text(d) for d in distinct_docs]
        # TF-IDF vocabulary and IDF come from a seeded sample of all texts (no labels
        # involved), so tickets and unrated reviews shape the features they are scored with.
        vocab_rows = row_sample(len(texts), cfg.vocab_sample, cfg.seed)
        weights = np.bincount(distinct[vocab_rows], minlength=len(first))
        fitted = np.flatnonzero(weights)
        features = fit_features([normalised[i] for i in fitted], weights[fitted], cfg)
        labelled_idx = np.flatnonzero(labelled)
        train_idx = labelled_idx[stratified_sample(y, cfg.max_labelled, cfg.seed)]
        y_train = labels[train_idx].to_numpy(dtype=object)
        x_train = features.transform([normalised[i] for i in distinct[train_idx]], lexicon_score[train_idx])
        oof, n_splits = _crossfit(x_train, y_train, cfg)
        final = _fit_classifier(x_train, y_train, cfg)
        del x_train
        # Every distinct text once, in batches: the full matrix would not fit at 1M texts.
        distinct_proba = np.zeros((len(first), len(LABELS)))
        for start in range(0, len(first), cfg.batch_size):
            batch = slice(start, start + cfg.batch_size)
            x = features.transform(normalised[batch], distinct_lexicon[batch])
            distinct_proba[batch] = _proba(final, x, np.zeros(len(LABELS)))
        proba = distinct_proba[distinct]
        proba[train_idx] = oof  # training reviews keep their out-of-fold (honest) scores
        score, label = _score_and_label(proba)
        model_eval = evaluate(y, score[labelled], label[labelled])
        details["trained_on"] = int(len(train_idx))
        details["vocabulary_from"] = int(len(vocab_rows))
        details["evaluation"] = f"{n_splits}-fold stratified cross-fitting on rated reviews (seed {cfg.seed})"
        details["features"] = features.n_features
    baseline = evaluate(y, lexicon_score[labelled], lexicon_label[labelled]) if labelled.any() else {}
    if fallback is None and _lexicon_wins(model_eval, baseline):
        # Champion/challenger on the same held-out reviews: a model that cannot beat the
        # lexicon it was given as a feature has learnt noise (too few or too noisy ratings).
        fallback = "lexicon"
        details.update({"fallback": fallback, "challenger": {"model_version": version, **model_eval},
                        "reason": (f"the lexicon beat the trained model on held-out rated reviews "
                                   f"(macro-F1 {baseline['macro_f1']:.3f} vs {model_eval['macro_f1']:.3f})")})
        version = LEXICON_VERSION
        score, label = lexicon_score.copy(), lexicon_label.astype(object)
        model_eval = dict(baseline)

    # Nothing to read: no evidence either way.
    score = np.where(empty, 0.0, score)
    label = np.where(empty, "neutral", label)
    conflict = rating_conflicts(rating, score, cfg.conflict_threshold) & is_review

    reviews = pd.DataFrame({
        "review_id": texts.loc[is_review, "text_id"].astype("string").to_numpy(),
        "sentiment_score": score[is_review].astype("float64"),
        "sentiment_label": label[is_review].astype(str),
        "model_version": version,
        "rating": rating[is_review].round().astype("Int32").to_numpy(),  # INTEGER, as in fct_texts
        "rating_conflict": conflict[is_review].astype(bool),
    }).astype({"review_id": "string", "sentiment_label": "string", "model_version": "string"})
    tickets = pd.DataFrame({
        "ticket_id": texts.loc[~is_review, "text_id"].astype("string").to_numpy(),
        "sentiment_score": score[~is_review].astype("float64"),
        "sentiment_label": label[~is_review].astype(str),
        "model_version": version,
    }).astype({"ticket_id": "string", "sentiment_label": "string", "model_version": "string"})

    rated = int(labelled.sum())
    conflict_rate = float(conflict[labelled].mean()) if rated else None

    def passed(metric: str) -> bool | None:
        value, base = model_eval.get(metric), baseline.get(metric)
        if fallback or value is None or base is None:
            return None
        return value >= base

    metrics = [
        Metric("macro_f1", model_eval.get("macro_f1"), baseline.get("macro_f1"), passed("macro_f1"), details),
        Metric("roc_auc", model_eval.get("roc_auc"), baseline.get("roc_auc"), passed("roc_auc"), details),
        Metric("rating_conflict_rate", conflict_rate, None, None,
               {"conflicts": int(conflict[labelled].sum()), "rated_reviews": rated,
                "threshold": cfg.conflict_threshold}),
        Metric("fallback", 1.0 if fallback else 0.0, None, None,
               {"fallback": fallback or "none", **({"reason": details["reason"]} if fallback else {})}),
    ]
    summary = {
        "reviews": len(reviews),
        "tickets": len(tickets),
        "model_version": version,
        "fallback": fallback,
        "macro_f1": model_eval.get("macro_f1"),
        "roc_auc": model_eval.get("roc_auc"),
        "baseline_macro_f1": baseline.get("macro_f1"),
        "baseline_roc_auc": baseline.get("roc_auc"),
        "rating_conflicts": int(reviews["rating_conflict"].sum()),
    }
    return SentimentResult(reviews, tickets, metrics, version, fallback, summary)


def _lexicon_wins(model: dict[str, float | None], lexicon: dict[str, float | None]) -> bool:
    """The lexicon is better on macro-F1 and at least as good on AUC."""
    f1_m, f1_l, auc_m, auc_l = (model.get("macro_f1"), lexicon.get("macro_f1"),
                                model.get("roc_auc"), lexicon.get("roc_auc"))
    if f1_m is None or f1_l is None or f1_l <= f1_m:
        return False
    return auc_m is None or auc_l is None or auc_l >= auc_m


def aggregate_sentiment(scores: pd.DataFrame, texts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean sentiment per customer (reviews and tickets) and per product (reviews only:
    tickets are mostly about delivery and service, not the product).

    ``scores``: review_sentiment and/or ticket_sentiment rows (review_id / ticket_id /
    text_id, sentiment_score); ``texts``: marts.fct_texts (text_id, source, customer_id,
    product_id). Returns (customer_id, avg_sentiment) and (product_id, avg_sentiment).
    """
    parts = []
    for key, source in (("review_id", "review"), ("ticket_id", "ticket"), ("text_id", None)):
        if key in scores.columns:
            part = scores.loc[scores[key].notna(), [key, "sentiment_score"]].rename(columns={key: "text_id"})
            parts.append(part.assign(source=source))
    empty_c = pd.DataFrame({"customer_id": pd.Series(dtype="string"), "avg_sentiment": pd.Series(dtype="float64")})
    empty_p = pd.DataFrame({"product_id": pd.Series(dtype="string"), "avg_sentiment": pd.Series(dtype="float64")})
    if not parts or texts.empty:
        return empty_c, empty_p
    s = pd.concat(parts, ignore_index=True).astype({"text_id": "string", "source": "string"})
    t = texts.astype({"text_id": "string"}).assign(source=texts["source"].astype("string").str.lower())
    keyed = s.loc[s["source"].notna()].merge(t, on=["text_id", "source"], how="inner")
    unkeyed = s.loc[s["source"].isna()].drop(columns="source").merge(t, on="text_id", how="inner")
    joined = pd.concat([keyed, unkeyed], ignore_index=True)
    joined["sentiment_score"] = pd.to_numeric(joined["sentiment_score"], errors="coerce")
    per_customer = (joined.dropna(subset=["customer_id"]).groupby("customer_id", as_index=False)["sentiment_score"]
                    .mean().rename(columns={"sentiment_score": "avg_sentiment"}))
    per_product = (joined.loc[joined["source"] == "review"].dropna(subset=["product_id"])
                   .groupby("product_id", as_index=False)["sentiment_score"].mean()
                   .rename(columns={"sentiment_score": "avg_sentiment"}))
    return (per_customer.astype({"customer_id": "string", "avg_sentiment": "float64"}),
            per_product.astype({"product_id": "string", "avg_sentiment": "float64"}))


def run(as_of: date, settings: Settings | None = None) -> dict:
    """Score marts.fct_texts; publish review_sentiment, ticket_sentiment and model_runs."""
    settings = settings or load_settings()
    cfg = SentimentConfig(seed=settings.seed)
    with connect(settings) as con:
        if not table_exists(con, "fct_texts", "marts"):
            log.info("sentiment skipped: marts.fct_texts is missing")
            return {"skipped": "marts.fct_texts is missing"}
        texts = read_df(con, "select * from marts.fct_texts")
    if texts.empty:
        log.info("sentiment skipped: marts.fct_texts is empty")
        return {"skipped": "marts.fct_texts is empty"}

    result = score_texts(texts, cfg)
    with connect(settings) as con:
        replace_partition(con, "review_sentiment", result.reviews, as_of, schema=OUTPUT_SCHEMA)
        replace_partition(con, "ticket_sentiment", result.tickets, as_of, schema=OUTPUT_SCHEMA)
        write_model_runs(con, MODEL, result.model_version, result.metrics, as_of)
    log.info("sentiment: %s", result.summary)
    return result.summary

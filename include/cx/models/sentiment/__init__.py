"""Multilingual sentiment of reviews and support tickets, learnt from the shop's own ratings.

Rated reviews are weak labels (1-2 negative, 3 neutral, 4-5 positive). A language-agnostic
two-level model learns them: ridge regressions (of the star rating and of each label's
indicator, label classes weighted equally, since real ratings are mostly 5 stars) on
TF-IDF character n-grams, word n-grams, title words and the lexicon score, stacked by a
class-balanced logistic regression; score = P(positive) - P(negative) in [-1, 1], label =
negative/neutral/positive by two cut points of the score tuned for macro-F1 on
out-of-fold scores.

Modules: :mod:`.config` (configuration, labels), :mod:`.text` (documents, normalisation,
tokens), :mod:`.features` (TF-IDF, samples), :mod:`.model` (training, scoring, gate),
:mod:`.evaluation` (metrics, decision rule), :mod:`.holdout` (the real-corpus protocol),
:mod:`.stage` (the pipeline stage).
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
the score for positive vs. negative reviews) and also makes the published scores of rated
reviews honest, so ``rating_conflict`` can flag text that contradicts its rating.
Tickets, unrated reviews and rated reviews outside the training sample are scored by a
final refit on the training sample (which never saw them).

Scale (the 100k-customer texts replicated 10x, 1.3M texts: ~2 CPU min and 1.8 GB peak;
scikit-learn's vectoriser on every text, one matrix of all texts and six fits on up to
200k reviews had used 7 CPU min and 10 GB when it was stopped):

- bounded samples, fixed seeds: the model trains on at most ``max_labelled`` rated
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

from cx.models.sentiment.config import (
    LABELS,
    MODEL,
    SentimentConfig,
    SentimentResult,
    label_from_score,
    rating_to_label,
)
from cx.models.sentiment.evaluation import _lexicon_wins, decide, evaluate, per_class_f1, rating_conflicts, tune_cuts
from cx.models.sentiment.features import (
    NgramTfidf,
    TextFeatures,
    distinct_texts,
    fit_features,
    make_vectorizers,
    row_sample,
    stratified_sample,
)
from cx.models.sentiment.model import order_texts, score_texts
from cx.models.sentiment.stage import aggregate_sentiment, run
from cx.models.sentiment.text import build_documents, char_wb_ngrams, normalise_text, strip_salutations, word_features

__all__ = [
    "LABELS",
    "MODEL",
    "NgramTfidf",
    "SentimentConfig",
    "SentimentResult",
    "TextFeatures",
    "_lexicon_wins",
    "aggregate_sentiment",
    "build_documents",
    "char_wb_ngrams",
    "decide",
    "distinct_texts",
    "evaluate",
    "fit_features",
    "label_from_score",
    "make_vectorizers",
    "normalise_text",
    "order_texts",
    "per_class_f1",
    "rating_conflicts",
    "rating_to_label",
    "row_sample",
    "run",
    "score_texts",
    "strip_salutations",
    "stratified_sample",
    "tune_cuts",
    "word_features",
]

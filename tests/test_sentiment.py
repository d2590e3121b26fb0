"""Sentiment: lexicon units, label rules, a trained multilingual model, fallback, conflicts, run()."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cx.models import sentiment as st
from cx.models import sentiment_lexicon as lex
from cx.models.sentiment import SentimentConfig, score_texts

# Polar vocabulary deliberately outside the lexicon (checked below), in lexicon languages
# and in languages the lexicon does not know at all.
VOCAB: dict[str, dict[str, list[str]]] = {
    "en": {"pos": ["gorgeous", "thrilled", "spotless", "marvellous", "exceeded expectations", "a gem", "splendid"],
           "neg": ["shoddy", "dreadful", "mouldy", "leaking", "fell apart", "ripped off", "shabby"],
           "mid": ["average", "so-so", "mediocre at best", "unremarkable", "nothing special", "middling"],
           "filler": ["the jacket", "this lamp", "delivery", "the colour", "my order", "the box", "overall"]},
    "de": {"pos": ["entzückend", "tadellos", "wunderschön", "erstklassig", "makellos", "genau richtig"],
           "neg": ["minderwertig", "wackelig", "zerkratzt", "undicht", "verschimmelt", "Wucher"],
           "mid": ["durchschnittlich", "mittelmäßig", "okay", "geht so", "nichts Besonderes", "solala"],
           "filler": ["die Jacke", "diese Lampe", "Lieferung", "die Farbe", "meine Bestellung", "insgesamt"]},
    "fr": {"pos": ["ravissant", "somptueux", "irréprochable", "enchantée", "au top du top", "nickel"],
           "neg": ["bâclé", "rayé", "moisi", "minable", "qui fuit", "branlant"],
           "mid": ["moyen", "correct sans plus", "passable", "quelconque", "ordinaire", "bof"],
           "filler": ["la veste", "cette lampe", "livraison", "la couleur", "ma commande", "dans l'ensemble"]},
    "es": {"pos": ["precioso", "impecable", "encantadora", "de lujo", "una joya", "espléndido"],
           "neg": ["chapucero", "rayado", "mohoso", "cutre", "se descose", "endeble"],
           "mid": ["regular", "normalito", "pasable", "ni fu ni fa", "corriente", "del montón"],
           "filler": ["la chaqueta", "esta lámpara", "el envío", "el color", "mi pedido", "en general"]},
    "pl": {"pos": ["rewelacja", "świetny", "polecam gorąco", "cudowny", "bez zarzutu", "znakomity"],
           "neg": ["beznadziejny", "zepsuty", "tandeta", "porysowany", "rozczarowanie", "fatalny"],
           "mid": ["przeciętny", "taki sobie", "w porządku", "średni", "zwyczajny", "bez rewelacji"],
           "filler": ["kurtka", "ta lampa", "dostawa", "kolor", "moje zamówienie", "ogólnie"]},
    "tr": {"pos": ["harika", "mükemmel", "bayıldım", "kusursuz", "çok şık", "muhteşem"],
           "neg": ["berbat", "bozuk", "rezalet", "çizik", "dandik", "pişmanım"],
           "mid": ["idare eder", "fena değil", "ortalama", "sıradan", "vasat", "normal"],
           "filler": ["ceket", "bu lamba", "kargo", "renk", "siparişim", "genel olarak"]},
}
RATINGS = {"pos": (4, 5), "neg": (1, 2), "mid": (3,)}


def synthetic_reviews(n: int, seed: int, noise: float = 0.08) -> pd.DataFrame:
    """Rated multilingual reviews: two polar phrases + fillers, with some rating noise."""
    rng = np.random.default_rng(seed)
    rows = []
    langs = list(VOCAB)
    for i in range(n):
        lang = langs[i % len(langs)]
        pol = ("pos", "neg", "mid")[rng.choice(3, p=[0.5, 0.3, 0.2])]
        words = VOCAB[lang]
        phrase = [rng.choice(words[pol]), rng.choice(words["filler"]), rng.choice(words[pol])]
        rng.shuffle(phrase)
        rating = int(rng.choice(RATINGS[pol]))
        if rng.random() < noise:
            rating = int(rng.integers(1, 6))
        rows.append({"text_id": f"R{i}", "source": "review", "customer_id": f"C{i % 40}", "product_id": f"P{i % 9}",
                     "rating": rating, "title": None, "body": " ".join(phrase) + ".",
                     "language": lang if i % 4 else None, "created_at": pd.Timestamp("2024-01-01")})
    return pd.DataFrame(rows)


def tickets(n: int) -> pd.DataFrame:
    bodies = ["Order arrived shoddy and leaking, I want my money back",
              "Die Lieferung war tadellos, danke", "Mi pedido llegó rayado y endeble",
              "Kargo berbat, siparişim bozuk"]
    return pd.DataFrame({"text_id": [f"T{i}" for i in range(n)], "source": "ticket",
                         "customer_id": [f"C{i}" for i in range(n)], "product_id": None, "rating": None,
                         "title": "Support", "body": [bodies[i % len(bodies)] for i in range(n)],
                         "language": None, "created_at": pd.Timestamp("2024-01-02")})


@pytest.fixture(scope="module")
def trained() -> st.SentimentResult:
    texts = pd.concat([synthetic_reviews(900, seed=1), tickets(8)], ignore_index=True)
    texts.loc[texts.index[:60], "rating"] = None  # some unrated reviews
    return score_texts(texts, SentimentConfig())


# --- lexicon ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("positive", "negated"), [
    ("This is good", "This is not good"),
    ("Das ist gut", "Das ist nicht gut"),
    ("Das Produkt funktioniert.", "Das Produkt funktioniert nicht."),
    ("C'est bon", "Ce n'est pas bon"),
    ("Je recommande", "Je ne recommande pas"),
    ("Es bueno", "No es bueno"),
    ("È buono", "Non è buono"),
    ("Het is goed", "Het is niet goed"),
    ("É bom", "Não é bom"),
])
def test_lexicon_negation(positive: str, negated: str) -> None:
    assert lex.score_text(positive) > 0.2
    assert lex.score_text(negated) < -0.2


def test_lexicon_negation_reverses_negative_words() -> None:
    assert lex.score_text("no problem at all") > 0
    assert lex.score_text("nicht schlecht") > 0
    assert lex.score_text("Gut und nicht teuer") > 0  # the negator belongs to 'teuer'


def test_lexicon_intensifiers_contrast_and_language() -> None:
    assert lex.score_text("very good") > lex.score_text("good") > 0
    assert lex.score_text("sehr schlecht") < lex.score_text("schlecht") < 0
    assert lex.score_text("Sehr schön, aber leider kaputt") < 0  # the clause after "but" decides
    assert lex.score_text("Ich bin sehr enttäuscht") < 0
    assert lex.score_text("Je suis très déçu") < 0
    assert lex.score_text("schon wieder da") == 0.0  # 'schon' (already) is not 'schön'
    # German 'fast' means 'almost': no English positive leaks in when the language is known
    assert lex.score_text("fast neu", language="de") == 0.0
    assert lex.normalise_language("de-DE") == "de" and lex.normalise_language("Portuguese") == "pt"
    assert lex.normalise_language("ja") is None
    assert lex.score_text(None) == 0.0 and lex.score_text("") == 0.0 and lex.score_text("最悪") == 0.0


def test_score_range_and_label_thresholds() -> None:
    texts = ["good " * 50, "terrible awful worst " * 30, "ok", "", "great but broken", "⭐⭐⭐⭐⭐"]
    scores = lex.score_texts(texts)
    assert ((scores > -1) & (scores < 1)).all()
    labels = st.label_from_score(np.array([-0.9, -0.1, -0.05, 0.0, 0.05, 0.1, 0.9]), 0.1)
    assert labels.tolist() == ["negative", "negative", "neutral", "neutral", "neutral", "positive", "positive"]
    r = st.rating_to_label(pd.Series([1, 2, 3, 4, 5, None, 0]))
    assert r.tolist()[:5] == ["negative", "negative", "neutral", "positive", "positive"]
    assert r.isna().tolist()[5:] == [True, True]


def test_rating_conflicts() -> None:
    flags = st.rating_conflicts(pd.Series([5, 5, 1, 1, 3, None]), np.array([-0.8, 0.9, 0.7, -0.9, -0.9, -0.9]), 0.5)
    assert flags.tolist() == [True, False, True, False, False, False]


def test_synthetic_vocabulary_is_outside_the_lexicon() -> None:
    words = [w for lang in VOCAB.values() for pol in ("pos", "neg") for w in lang[pol]]
    assert np.mean(np.abs(lex.score_texts(words)) > 0) < 0.1


# --- trained model -----------------------------------------------------------------------------


def test_trained_model_beats_chance_and_lexicon(trained: st.SentimentResult) -> None:
    m = {x.metric: x for x in trained.metrics}
    print(f"trained: macro_f1={m['macro_f1'].value:.3f} (lexicon {m['macro_f1'].baseline_value:.3f}) "
          f"auc={m['roc_auc'].value:.3f} (lexicon {m['roc_auc'].baseline_value:.3f})")
    assert trained.model_version == "charlr-v1" and trained.fallback is None
    assert m["macro_f1"].value >= 0.7 and m["roc_auc"].value >= 0.85
    assert m["macro_f1"].value > m["macro_f1"].baseline_value and m["macro_f1"].passed
    assert m["roc_auc"].value > m["roc_auc"].baseline_value and m["roc_auc"].passed
    assert m["fallback"].value == 0.0
    r = trained.reviews
    assert len(r) == 900 and r["review_id"].is_unique
    assert r["sentiment_score"].between(-1, 1).all()
    assert set(r["sentiment_label"]) <= set(st.LABELS)
    # the label agrees with the sign of the score
    assert (r.loc[r["sentiment_label"] == "positive", "sentiment_score"] > 0).all()
    assert (r.loc[r["sentiment_label"] == "negative", "sentiment_score"] < 0).all()


def test_trained_model_scores_tickets_and_unrated_reviews(trained: st.SentimentResult) -> None:
    t = trained.tickets.set_index("ticket_id")
    assert len(t) == 8 and (t["model_version"] == "charlr-v1").all()
    assert t.loc["T0", "sentiment_score"] < 0 and t.loc["T3", "sentiment_score"] < 0  # shoddy / berbat
    assert t.loc["T1", "sentiment_score"] > 0  # tadellos
    unrated = trained.reviews.loc[trained.reviews["rating"].isna()]
    assert len(unrated) == 60 and not unrated["rating_conflict"].any()


def test_conflicts_flagged_out_of_fold(trained: st.SentimentResult) -> None:
    # ~8% of ratings were randomised: cross-fitted scores should expose many of them
    r = trained.reviews
    conflicts = r.loc[r["rating_conflict"]]
    assert 5 <= len(conflicts) <= 0.15 * len(r)
    assert ((conflicts["rating"] >= 4) | (conflicts["rating"] <= 2)).all()


def test_rating_conflict_in_pipeline_with_strong_text() -> None:
    texts = synthetic_reviews(400, seed=2, noise=0.0)
    texts.loc[0, ["body", "rating"]] = ["dreadful shoddy leaking, fell apart, dreadful.", 5]
    texts.loc[1, ["body", "rating"]] = ["gorgeous spotless marvellous, a gem, thrilled.", 1]
    result = score_texts(texts, SentimentConfig())
    flagged = result.reviews.set_index("review_id")["rating_conflict"]
    assert flagged["R0"] and flagged["R1"]
    assert flagged.mean() < 0.05


# --- fallback -----------------------------------------------------------------------------------


def test_fallback_to_lexicon_when_few_labels() -> None:
    texts = pd.DataFrame({
        "text_id": ["a", "b", "c", "d"], "source": ["review", "review", "review", "ticket"],
        "customer_id": ["c1", "c2", "c3", "c1"], "product_id": ["p1", "p1", "p2", None],
        "rating": [5, 1, 5, None],
        "title": ["Excelente", None, "Terrible", None],
        "body": ["Muy bueno, lo recomiendo", "Nicht gut, leider kaputt", "worst purchase ever, broken",
                 "Colis abîmé, très déçu"],
        "language": ["es", None, "en", "fr"], "created_at": pd.Timestamp("2024-01-01"),
    })
    result = score_texts(texts, SentimentConfig())
    assert result.fallback == "lexicon" and result.model_version == "lexicon-v1"
    r = result.reviews.set_index("review_id")
    assert r.loc["a", "sentiment_label"] == "positive" and r.loc["b", "sentiment_label"] == "negative"
    assert r.loc["c", "rating_conflict"] and not r.loc["a", "rating_conflict"]
    assert result.tickets["sentiment_label"].tolist() == ["negative"]
    m = {x.metric: x for x in result.metrics}
    assert m["fallback"].value == 1.0 and m["fallback"].details["fallback"] == "lexicon"
    assert m["macro_f1"].passed is None


def test_fallback_when_one_class_only() -> None:
    texts = synthetic_reviews(300, seed=4)
    texts["rating"] = 5
    result = score_texts(texts, SentimentConfig())
    assert result.fallback == "lexicon"
    assert "class" in {x.metric: x for x in result.metrics}["fallback"].details["reason"]


def test_aggregate_sentiment() -> None:
    texts = pd.DataFrame({"text_id": ["1", "2", "1", "3"], "source": ["review", "review", "ticket", "review"],
                          "customer_id": ["a", "a", "b", None], "product_id": ["p", "q", "p", "p"]})
    reviews = pd.DataFrame({"review_id": ["1", "2", "3"], "sentiment_score": [0.5, -0.1, 1.0]})
    ticket_scores = pd.DataFrame({"ticket_id": ["1"], "sentiment_score": [-0.8]})
    per_customer, per_product = st.aggregate_sentiment(pd.concat([reviews, ticket_scores]), texts)
    c = per_customer.set_index("customer_id")["avg_sentiment"]
    assert c["a"] == pytest.approx(0.2) and c["b"] == pytest.approx(-0.8)
    p = per_product.set_index("product_id")["avg_sentiment"]
    assert p["p"] == pytest.approx(0.75) and p["q"] == pytest.approx(-0.1)  # tickets excluded


# --- run() -----------------------------------------------------------------------------------------


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cx.duckdb"
    monkeypatch.setenv("CX_WAREHOUSE", str(path))
    monkeypatch.setenv("CX_DUCKDB_THREADS", "2")
    monkeypatch.setenv("CX_DUCKDB_MEMORY_LIMIT", "1GB")
    return path


def _write_texts(path: Path, frame: pd.DataFrame) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        frame = frame.astype({"rating": "Int64", "title": "string", "product_id": "string", "language": "string"})
        con.register("f", frame)
        con.execute("create or replace table marts.fct_texts as select * from f")
    finally:
        con.close()


def _read(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_run_writes_tables_and_model_runs(warehouse: Path) -> None:
    _write_texts(warehouse, pd.concat([synthetic_reviews(300, seed=5), tickets(5)], ignore_index=True))
    summary = st.run(date(2024, 1, 2))
    st.run(date(2024, 1, 2))  # idempotent
    assert summary["reviews"] == 300 and summary["tickets"] == 5 and summary["fallback"] is None
    reviews = _read(warehouse, "select * from main.review_sentiment")
    tickets_out = _read(warehouse, "select * from main.ticket_sentiment")
    runs = _read(warehouse, "select * from main.model_runs").set_index("metric")
    assert len(reviews) == 300 and len(tickets_out) == 5
    assert {"review_id", "sentiment_score", "sentiment_label", "model_version", "rating", "rating_conflict",
            "as_of_date"} <= set(reviews.columns)
    assert {"ticket_id", "sentiment_score", "sentiment_label", "model_version",
            "as_of_date"} <= set(tickets_out.columns)
    assert (reviews["as_of_date"] == pd.Timestamp("2024-01-02")).all()
    assert (runs["model"] == "sentiment").all() and (runs["model_version"] == "charlr-v1").all()
    assert runs.loc["macro_f1", "value"] > runs.loc["macro_f1", "baseline_value"]
    assert json.loads(runs.loc["fallback", "details"])["fallback"] == "none"


def test_run_reports_lexicon_fallback(warehouse: Path) -> None:
    _write_texts(warehouse, synthetic_reviews(50, seed=6))
    summary = st.run(date(2024, 1, 3))
    assert summary["fallback"] == "lexicon"
    runs = _read(warehouse, "select * from main.model_runs").set_index("metric")
    assert (runs["model_version"] == "lexicon-v1").all()
    assert runs.loc["fallback", "value"] == 1.0
    assert json.loads(runs.loc["fallback", "details"])["fallback"] == "lexicon"


def test_run_skips_missing_or_empty(warehouse: Path) -> None:
    assert "skipped" in st.run(date(2024, 1, 1))
    _write_texts(warehouse, synthetic_reviews(3, seed=0).iloc[:0])
    assert "skipped" in st.run(date(2024, 1, 1))

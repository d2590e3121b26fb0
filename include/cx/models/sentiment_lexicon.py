"""A small multilingual sentiment lexicon: the fallback, the baseline and one feature of the
sentiment stage.

Seven languages (en, de, fr, es, it, nl, pt), some 70-120 everyday review words each
(quality, fit, delivery, service, value), plus language-neutral emoji, with
negators (a short window before the word; German/Dutch/French sentence negation after
it), intensifiers and contrast words ("but": the clause after it counts more). Words
ending in ``*`` match by prefix, so one stem covers inflections (enttäusch* ->
enttäuscht, enttäuschend). Matching is accent-insensitive. Each text is scored with
its own language's lexicon plus a few English loanwords (language from the ``language``
column, or a stop-word vote), so false friends across languages (German "fast" =
almost, Italian "prima" = before) do not leak.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

LEXICON_VERSION = "lexicon-v2"


@dataclass(frozen=True)
class LexiconConfig:
    negation_window: int = 3  # tokens before a polar word that a negator reaches
    negation_factor: float = -0.75  # "not good" is less negative than "bad"
    intensifier_boost: float = 0.5  # "very good" = 1.5 x "good"
    intensifier_window: int = 2
    contrast_before: float = 0.5  # clause before "but" is discounted...
    contrast_after: float = 1.5  # ...the clause after it decides
    normaliser: float = 4.0  # score = s / sqrt(s^2 + normaliser), in (-1, 1)
    # |score| below this is neutral; None derives it from the scale: half the score of a
    # single plain polar word ("good" -> 0.45, band 0.22), so one clear polar word makes a
    # text polar, while a lone word discounted by "but" or a negation does not.
    neutral_band: float | None = None
    min_prefix: int = 4  # shortest stem allowed to match by prefix

    def neutral_threshold(self) -> float:
        if self.neutral_band is not None:
            return self.neutral_band
        return 0.5 / float(np.sqrt(1.0 + self.normaliser))


# Per language: pos/neg (valence 1), pos2/neg2 (valence 2), negators, negators that may
# follow the word (post), intensifiers, contrast words, and stop words for language ID.
_RAW: dict[str, dict[str, str]] = {
    "en": {
        "pos": "good nice love* like liked happy recommend* fast quick* comfortable satisfied pleased "
        "beautiful lovely easy helpful friendly works worth enjoy* glad impressed solid sturdy "
        "reliable fine smooth cute great pleasant comfy cozy cosy durable handy accurate favourite "
        "favorite fits compliment* adore* gorgeous stunning thrilled helpful*",
        "pos2": "excellent amazing awesome perfect* fantastic wonderful brilliant superb outstanding best "
        "delighted flawless",
        "neg": "bad poor* broke broken disappoint* useless waste* defective faulty damaged late slow "
        "problem* issue* wrong rubbish junk flimsy unhappy angry annoy* complain* fake missing "
        "dirty ugly uncomfortable overpriced fail* cheaply refund* unfortunately sadly stopped "
        "cheap mediocre scratched stained torn ripped leak* unusable unreliable regret* avoid "
        "shame misleading poorly sucks frustrat* unacceptable ridiculous",
        "neg2": "terrible awful horrible worst hate* scam garbage disgust* pathetic dreadful appalling",
        "neg_words": "not no never nothing nobody none neither nor cannot cant dont doesnt didnt isnt "
        "wasnt arent werent wont wouldnt shouldnt couldnt without hardly",
        "post": "",
        "intens": "very really so extremely totally absolutely highly incredibly quite too truly",
        "contrast": "but however although though yet",
        "stop": "the and is it this was for with to of my i you are have they that on",
    },
    "de": {
        "pos": "gut gute guter gutes guten schön toll prima empfehl* zufrieden schnell lieb* begeistert "
        "klasse spitze top bequem praktisch einwandfrei freundlich hilfreich gern* preiswert "
        "funktioniert angenehm passt super schön* toll* zufriedene bequeme lohnt gefällt gefallen "
        "hochwertig* stabil robust freut überzeug* wunderschön* empfehlenswert hilfsbereit* "
        "freundliche",
        "pos2": "perfekt* ausgezeichnet* hervorragend* wunderbar* großartig* fantastisch* traumhaft genial",
        "neg": "schlecht* enttäusch* enttausch* kaputt defekt* mangelhaft* billig langsam teuer ärger* "
        "nutzlos unbrauchbar falsch beschädigt fehlerhaft problem* mies unzufrieden unbequem "
        "reklamation leider schade zurückgeschickt gebrochen dreckig verspätet umständlich nervig "
        "fehlt stink* reklam* minderwertig* frustrier* inakzeptabel unverschämt*",
        "neg2": "schrecklich* furchtbar* katastroph* grauenhaft* miserabel* betrug* schrott miserab*",
        "neg_words": "nicht kein keine keinen keinem keiner keines nie niemals nichts ohne weder niemand "
        "niemandem niemanden nirgends kaum",
        "post": "nicht",
        "intens": "sehr echt wirklich total absolut extrem besonders ziemlich äußerst richtig voll",
        "contrast": "aber jedoch allerdings trotzdem doch",
        "stop": "der die das und ist ich mit ein eine es war auf für auch zu sich nicht sehr",
    },
    "fr": {
        "pos": "bon bonne bons bonnes bien recommand* satisfait* content* ravi* rapide* agreable joli* "
        "beau belle adore aime confortable efficace pratique sympa bravo conforme solide super top "
        "adore* fonctionne doux douce facile* plaisir heureu* compliment* réussi* agréable* "
        "serviable* aimable*",
        "pos2": "excellent* parfait* genial* magnifique* merveilleu* impeccable* superbe* formidable",
        "neg": "mauvais* nul nulle decevant* decu* deception casse* defectueu* lent* probleme* inutile "
        "médiocre abîmé* endommagé* retard* dommage insatisfait* fragile sale rembours* moche "
        "déplorable* eviter fuir regret* plainte frustr* inacceptable inadmissible",
        "neg2": "horrible* pire arnaque* honte* horreur catastroph* lamentable* affreu*",
        "neg_words": "ne n pas jamais rien aucun aucune sans ni personne guere",
        "post": "pas",
        "intens": "très vraiment trop extrêmement tellement vachement absolument assez",
        "contrast": "mais cependant pourtant toutefois",
        "stop": "le la les et est une des je pour avec du ce il que en un au",
    },
    "es": {
        "pos": "bueno buena buenos buenas buen recomiendo recomendable recomend* satisfech* contento* "
        "rapido* rapida* bonito* bonita* comodo* comoda* facil util feliz encanta* gusta* bien "
        "correcto funciona content* precios* bonit* guap* acierto funciona* agradable elogi* "
        "cumple amable*",
        "pos2": "excelente* perfect* genial* maravill* fantastic* estupend* increible* espectacular",
        "neg": "malo mala malos malas decepcion* roto rota rotos rotas defectuos* lento* lenta* tarde "
        "problema* inútil dañad* lamentable* caro devolución* sucio incómodo* desgraciadamente mal "
        "lio timo frustra* inaceptable",
        "neg2": "terrible* horrible* pesim* peor basura estafa* fatal desastre* asco",
        "neg_words": "no nunca nada ni jamas sin tampoco ningun ninguna ninguno nadie",
        "post": "",
        "intens": "muy realmente bastante demasiado totalmente absolutamente extremadamente tan",
        "contrast": "pero aunque sino",
        "stop": "el los las y es un una que con para por lo del se muy al su",
    },
    "it": {
        "pos": "buono buona buoni buone consiglio consigliat* consigliabile soddisfatt* content* veloce "
        "veloci rapid* comodo comoda comodi utile facile felice funziona bello bella belli belle "
        "carino carina bene piace* consigli* funziona* comod* carin* veloc* complimenti preciso "
        "gentil*",
        "pos2": "ottim* eccellent* perfett* fantastic* bellissim* magnific* stupend* meraviglios* adoro",
        "neg": "cattiv* delus* deludente* rotto rotta rotti difettos* lento lenta problem* inutile "
        "scadente* danneggiat* ritardo fragile costoso sporco purtroppo peccato scomod* evitare "
        "rott* lent* fregatura frustra* inaccettabile",
        "neg2": "pessim* terribil* orribil* peggio* peggiore truffa* schifo* vergogn* disastro*",
        "neg_words": "non mai niente nulla ne senza nessun nessuno nessuna neanche nemmeno",
        "post": "",
        "intens": "molto davvero veramente troppo estremamente assolutamente proprio tanto",
        "contrast": "ma pero tuttavia invece",
        "stop": "il lo gli di e che con per ma del della sono ho un una molto",
    },
    "nl": {
        "pos": "goed goede prima mooi mooie snel snelle tevreden aanrader aanbevolen fijn fijne blij "
        "handig lekker prettig comfortabel makkelijk vriendelijk werkt netjes prachtig* mooi* "
        "aanrad* fijn* degelijk* stevig* snel* tof leuk* behulpzaam*",
        "pos2": "uitstekend* perfect* geweldig* fantastisch* heerlijk* super top",
        "neg": "slecht* teleurgesteld teleurstell* kapot defect traag trage probleem problemen nutteloos "
        "duur jammer helaas beschadigd rommel ontevreden lelijk klacht* vies belabberd* gedoe "
        "stink* frustrer* onacceptabel",
        "neg2": "verschrikkelijk* vreselijk* waardeloos* oplichting* bagger",
        "neg_words": "niet geen nooit niets niks zonder noch niemand nergens",
        "post": "niet",
        "intens": "zeer heel erg echt enorm ontzettend bijzonder uiterst hartstikke",
        "contrast": "maar echter toch",
        "stop": "de het een en is ik van voor ook dat op te met zijn heb",
    },
    "pt": {
        "pos": "bom boa bons boas recomendo recomend* satisfeit* content* rapid* bonit* lind* adorei amei "
        "gostei confortavel facil util feliz eficiente funciona certinho top ador* gost* elogi* "
        "funciona* prestativ* atencios*",
        "pos2": "otim* excelente* perfeit* maravilhos* incrivel fantastic* sensacional",
        "neg": "ruim decepcion* quebrad* defeito* defeituos* lent* atras* problema* inutil fraco fraca "
        "danificad* insatisfeit* demor* caro sujo infelizmente quebr* devolv* devoluc* reclam* "
        "arrepend* frustra* inaceitavel",
        "neg2": "pessim* horrivel terrivel pior lixo golpe vergonha* porcaria",
        "neg_words": "nao nunca nada nem sem jamais nenhum nenhuma ninguem",
        "post": "",
        "intens": "muito muita realmente demais extremamente bastante totalmente tão demais",
        "contrast": "mas porem contudo entretanto",
        "stop": "o os as e um uma que com para do da foi eu no na em",
    },
}

# Language-neutral emoji and emoticons.
_EMOJI_POS = set("😀😃😄😁😊😍🥰😘👍❤💕💯🙂⭐🌟👌🎉😎")
_EMOJI_NEG = set("😡😠🤬😞😢😭👎💔😤🙁☹😒🤮😩")

_TOKEN = re.compile(r"\w+(?:'\w+)*|[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]|[.!?;:,()]")
_CLAUSE_BREAK = frozenset(".!?;:,()")


def _char_class(codes: list[int]) -> re.Pattern[str]:
    ranges: list[tuple[int, int]] = []
    for c in codes:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return re.compile(
        "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges) + "]"
    )


@cache
def _combining_marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """All combining characters (``unicodedata.combining`` != 0) as character classes: one
    regex pass instead of a Python test per character (built once, ~0.1 s). Those beyond
    U+FFFF get their own class: in one class with the rest they make every match ~15x slower."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))]
    return _char_class([c for c in marks if c <= 0xFFFF]), _char_class([c for c in marks if c > 0xFFFF])


_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _fold(text: str) -> str:
    """Lowercase and strip accents so 'très'/'tres' and 'não'/'nao' match alike
    (German umlauts become ae/oe/ue first, keeping schön apart from schon)."""
    if text.isascii():  # most text: nothing to translate, decompose or strip
        return text.lower()
    text = text.lower().replace("’", "'").translate(_GERMAN)
    bmp, astral = _combining_marks()
    text = bmp.sub("", unicodedata.normalize("NFKD", text))
    return astral.sub("", text) if text and max(text) > "\uffff" else text


@dataclass(frozen=True)
class _Lang:
    exact: dict[str, float]
    prefix: dict[str, float]
    negators: frozenset[str]
    post: frozenset[str]
    intens: frozenset[str]
    contrast: frozenset[str]


@lru_cache(maxsize=500_000)
def _valence(key: str, token: str, min_prefix: int) -> float:
    """Valence of a token in lexicon ``key``: exact word first, then the longest stem."""
    lang = _LEXICONS[key]
    if token in lang.exact:
        return lang.exact[token]
    for end in range(len(token), min_prefix - 1, -1):
        value = lang.prefix.get(token[:end])
        if value is not None:
            return value
    return 0.0


def _build(spec: dict[str, str]) -> _Lang:
    exact: dict[str, float] = {}
    prefix: dict[str, float] = {}
    for key, value in (("pos", 1.0), ("pos2", 2.0), ("neg", -1.0), ("neg2", -2.0)):
        for word in _fold(spec[key]).split():
            word = word.replace("_", " ")
            (prefix if word.endswith("*") else exact)[word.rstrip("*")] = value
    words = {k: frozenset(_fold(spec[k]).split()) for k in ("neg_words", "post", "intens", "contrast")}
    return _Lang(exact, prefix, words["neg_words"], words["post"], words["intens"], words["contrast"])


def _merge(langs: Iterable[_Lang]) -> _Lang:
    exact: dict[str, float] = {}
    prefix: dict[str, float] = {}
    negators: set[str] = set()
    post: set[str] = set()
    intens: set[str] = set()
    contrast: set[str] = set()
    for lang in langs:
        exact.update(lang.exact)
        prefix.update(lang.prefix)
        negators |= lang.negators
        post |= lang.post
        intens |= lang.intens
        contrast |= lang.contrast
    return _Lang(exact, prefix, frozenset(negators), frozenset(post), frozenset(intens), frozenset(contrast))


LANGUAGES: tuple[str, ...] = tuple(_RAW)
_LANGS: dict[str, _Lang] = {code: _build(spec) for code, spec in _RAW.items()}
# English loanwords are common in every language's reviews; the rest of English is not
# merged in, because of false friends (German "fast" = almost, French "sale" = dirty).
_LOANWORDS = _build(
    {
        "pos": "top super perfect nice cool great love",
        "pos2": "",
        "neg": "fake fail",
        "neg2": "",
        "neg_words": "",
        "post": "",
        "intens": "",
        "contrast": "",
    }
)
_WITH_EN: dict[str, _Lang] = {
    code: (lang if code == "en" else _merge([_LOANWORDS, lang])) for code, lang in _LANGS.items()
}
_UNION = "*"  # lexicon key used when the language is unknown: all seven merged
_LEXICONS: dict[str, _Lang] = {**_WITH_EN, _UNION: _merge(_LANGS.values())}
_STOP: dict[str, frozenset[str]] = {code: frozenset(_fold(spec["stop"]).split()) for code, spec in _RAW.items()}
_LANGUAGE_NAMES = {
    "english": "en",
    "german": "de",
    "deutsch": "de",
    "french": "fr",
    "francais": "fr",
    "spanish": "es",
    "espanol": "es",
    "italian": "it",
    "italiano": "it",
    "dutch": "nl",
    "nederlands": "nl",
    "portuguese": "pt",
    "portugues": "pt",
}


# Negators of all seven languages (folded): the trained model marks their scope too.
NEGATORS: frozenset[str] = _LEXICONS[_UNION].negators


def fold(text: str) -> str:
    """Lowercase, accents stripped, German umlauts spelled out (the lexicon's matching form)."""
    return _fold(text)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(_fold(text))


def normalise_language(language: str | None) -> str | None:
    """'de', 'de-DE', 'German' -> 'de'; anything outside the seven languages -> None."""
    if not language or not isinstance(language, str):
        return None
    value = _fold(language.strip())
    value = _LANGUAGE_NAMES.get(value, value)
    code = re.split(r"[-_]", value)[0][:2]
    return code if code in _RAW else None


def detect_language(tokens: Sequence[str], min_votes: int = 2) -> str | None:
    """Stop-word vote among the seven languages; None unless one language wins with at
    least ``min_votes`` stop words (short texts such as "no es bueno" or "no problem" are
    ambiguous and use the merged lexicon)."""
    counts = {code: sum(t in stop for t in tokens) for code, stop in _STOP.items()}
    top = max(counts.values())
    winners = [code for code, count in counts.items() if count == top]
    return winners[0] if top >= min_votes and len(winners) == 1 else None


def _split_apostrophe(token: str, lang: _Lang) -> tuple[str, bool]:
    """("don't" -> negator), ("n'est" -> negator), ("l'horreur" -> "horreur")."""
    if "'" not in token:
        return token, token in lang.negators
    if token.endswith("n't") or token.startswith("n'"):
        return token, True
    return token.rsplit("'", 1)[1], False


def _owns_next(words: list[str], clause: list[int], j: int, key: str, cfg: LexiconConfig) -> bool:
    """Whether the negator at ``j`` is followed, in its clause, by a polar word it negates."""
    for k in range(j + 1, min(len(words), j + 1 + cfg.negation_window)):
        if clause[k] != clause[j]:
            return False
        if _valence(key, words[k], cfg.min_prefix) != 0.0:
            return True
    return False


def score_text(text: str | None, language: str | None = None, cfg: LexiconConfig | None = None) -> float:
    """Sentiment of one text in (-1, 1); 0 when no polar word is found."""
    cfg = cfg or LexiconConfig()
    if not text or not isinstance(text, str):
        return 0.0
    tokens = tokenize(text)
    code = normalise_language(language) or detect_language(tokens)
    key = code or _UNION
    lang = _LEXICONS[key]

    words: list[str] = []
    is_neg: list[bool] = []
    clause: list[int] = []
    contrast_at: list[int] = []  # token positions of contrast words
    clause_id = 0
    for token in tokens:
        if token in _CLAUSE_BREAK:
            clause_id += 1
            continue
        word, negator = _split_apostrophe(token, lang)
        if word in lang.contrast:
            contrast_at.append(len(words))
            clause_id += 1
        words.append(word)
        is_neg.append(negator)
        clause.append(clause_id)

    total = 0.0
    for i, word in enumerate(words):
        if word in _EMOJI_POS or word in _EMOJI_NEG:
            total += 1.0 if word in _EMOJI_POS else -1.0
            continue
        if is_neg[i] or word in lang.intens:
            continue
        value = _valence(key, word, cfg.min_prefix)
        if value == 0.0:
            continue
        start = max(0, i - cfg.intensifier_window)
        if any(words[j] in lang.intens and clause[j] == clause[i] for j in range(start, i)):
            value *= 1.0 + cfg.intensifier_boost
        start = max(0, i - cfg.negation_window)
        negated = any(is_neg[j] and clause[j] == clause[i] for j in range(start, i))
        if not negated:
            # German/Dutch/French often negate after the verb ("funktioniert nicht"), unless
            # the negator already belongs to a polar word after it ("gut und nicht teuer").
            for j in range(i + 1, min(len(words), i + 1 + cfg.negation_window)):
                if clause[j] != clause[i]:
                    break
                if words[j] in lang.post and not _owns_next(words, clause, j, key, cfg):
                    negated = True
                    break
        if negated:
            value *= cfg.negation_factor
        if contrast_at:
            last = contrast_at[-1]
            value *= cfg.contrast_after if i > last else cfg.contrast_before
        total += value
    return float(total / np.sqrt(total * total + cfg.normaliser))


def score_texts(
    texts: Iterable[str | None], languages: Iterable[str | None] | None = None, cfg: LexiconConfig | None = None
) -> np.ndarray:
    texts = list(texts)
    langs = list(languages) if languages is not None else [None] * len(texts)
    return np.array([score_text(t, lang, cfg) for t, lang in zip(texts, langs, strict=True)], dtype="float64")

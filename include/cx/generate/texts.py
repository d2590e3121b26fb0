"""Review and support-ticket wording, composed from randomly combined parts.

A review body is an opener, one or two aspect clauses (with an optional intensifier),
maybe a negation ("not bad", "nicht gut", "pas mal") and a closer, all chosen from the
sentiment its rating implies; 3-star reviews are often mixed ("great quality but
shipping was slow"). Sentences are sometimes separated by newlines and some phrases
carry quotes and commas, so CSV quoting is exercised.
"""

from __future__ import annotations

import numpy as np

LANGS: tuple[str, ...] = ("en", "de", "fr", "es")
BUT = {"en": "but", "de": "aber", "fr": "mais", "es": "pero"}
INTENSIFIERS = {
    "en": ("", "", "really ", "very ", "super ", "extremely ", "quite "),
    "de": ("", "", "wirklich ", "sehr ", "echt ", "total ", "ziemlich "),
    "fr": ("", "", "vraiment ", "très ", "super ", "assez ", "tellement "),
    "es": ("", "", "muy ", "realmente ", "bastante ", "súper ", "tan "),
}
# Clauses are lower-case fragments; "{i}" marks where an intensifier may go.
POSITIVE = {
    "en": ("the quality is {i}good", "it arrived {i}fast", "the fit is {i}perfect", "it works {i}well",
           "the \"premium\" finish looks {i}nice", "great value for money", "the packaging was {i}careful",
           "my kids love it", "setup took two minutes, {i}easy"),
    "de": ("die Qualität ist {i}gut", "die Lieferung war {i}schnell", "es passt {i}perfekt",
           "funktioniert {i}zuverlässig", "das Preis-Leistungs-Verhältnis ist {i}top",
           "die Verarbeitung ist {i}hochwertig", "sieht {i}schön aus, genau wie auf dem Foto"),
    "fr": ("la qualité est {i}bonne", "livraison {i}rapide", "la taille est {i}parfaite",
           "fonctionne {i}bien", "le rapport qualité-prix est {i}excellent", "l'emballage était {i}soigné",
           "le produit est {i}joli, comme sur la photo"),
    "es": ("la calidad es {i}buena", "llegó {i}rápido", "la talla es {i}perfecta", "funciona {i}bien",
           "la relación calidad-precio es {i}buena", "el embalaje era {i}cuidadoso", "es {i}bonito"),
}
NEGATIVE = {
    "en": ("the quality is {i}poor", "shipping was {i}slow", "it broke after a week", "the size is {i}off",
           "it stopped working after two days", "customer service was {i}unhelpful",
           "the \"new\" item looked used", "way too expensive for what it is", "it smells {i}bad"),
    "de": ("die Qualität ist {i}schlecht", "die Lieferung war {i}langsam", "nach einer Woche kaputt",
           "die Größe passt {i}nicht", "der Kundenservice war {i}unfreundlich", "viel zu teuer",
           "das Material fühlt sich {i}billig an"),
    "fr": ("la qualité est {i}médiocre", "la livraison était {i}lente", "cassé au bout d'une semaine",
           "la taille ne correspond pas", "le service client était {i}désagréable", "beaucoup trop cher",
           "le produit est arrivé abîmé"),
    "es": ("la calidad es {i}mala", "el envío fue {i}lento", "se rompió en una semana",
           "la talla no corresponde", "el servicio al cliente fue {i}malo", "demasiado caro",
           "llegó dañado"),
}
# Negations: mildly positive ("not bad") and negative ("not good") wording.
NOT_BAD = {
    "en": ("not bad at all", "honestly not bad", "can't complain", "not disappointed"),
    "de": ("gar nicht schlecht", "nicht schlecht", "kann mich nicht beklagen", "nicht enttäuscht"),
    "fr": ("pas mal du tout", "pas mal", "rien à redire", "pas déçu"),
    "es": ("no está nada mal", "no está mal", "no me puedo quejar", "no me decepcionó"),
}
NOT_GOOD = {
    "en": ("not good", "not worth the money", "not what I expected", "not recommended"),
    "de": ("nicht gut", "nicht das Geld wert", "nicht wie beschrieben", "nicht zu empfehlen"),
    "fr": ("pas bon", "ne vaut pas le prix", "pas conforme à la description", "pas terrible"),
    "es": ("no es bueno", "no vale la pena", "no es lo que esperaba", "no lo recomiendo"),
}
NEUTRAL = {
    "en": ("it is okay", "does the job", "average product", "as described, nothing special"),
    "de": ("ist okay", "erfüllt seinen Zweck", "durchschnittlich", "wie beschrieben, nichts Besonderes"),
    "fr": ("c'est correct", "fait le travail", "produit moyen", "conforme, sans plus"),
    "es": ("está bien", "cumple su función", "producto normal", "como se describe, nada especial"),
}
OPENERS = {
    "pos": {"en": ("Love it!", "Very happy.", "Great purchase.", "Excellent.", "Five stars from me."),
            "de": ("Super!", "Sehr zufrieden.", "Toller Kauf.", "Klasse."),
            "fr": ("Génial !", "Très satisfait.", "Super achat.", "Parfait."),
            "es": ("¡Me encanta!", "Muy contento.", "Gran compra.", "Excelente.")},
    "neg": {"en": ("Disappointed.", "Terrible.", "Do not buy.", "What a waste."),
            "de": ("Enttäuscht.", "Schrecklich.", "Finger weg.", "Ärgerlich."),
            "fr": ("Déçu.", "Horrible.", "À éviter.", "Quelle arnaque."),
            "es": ("Decepcionado.", "Horrible.", "No lo compréis.", "Una pena.")},
    "neu": {"en": ("Hmm.", "Mixed feelings.", "So-so.", ""),
            "de": ("Naja.", "Gemischte Gefühle.", "Geht so.", ""),
            "fr": ("Bof.", "Avis mitigé.", "Moyen.", ""),
            "es": ("Regular.", "Sentimientos encontrados.", "Así así.", "")},
}
CLOSERS = {
    "pos": {"en": ("Would buy again.", "Highly recommended!", "Thanks!", ""),
            "de": ("Gerne wieder.", "Klare Empfehlung!", "Danke!", ""),
            "fr": ("Je recommande !", "J'achèterai à nouveau.", "Merci !", ""),
            "es": ("Lo recomiendo.", "Volvería a comprar.", "¡Gracias!", "")},
    "neg": {"en": ("Returning it.", "Never again.", "I want a refund.", ""),
            "de": ("Geht zurück.", "Nie wieder.", "Ich will mein Geld zurück.", ""),
            "fr": ("Je le renvoie.", "Plus jamais.", "Je veux être remboursé.", ""),
            "es": ("Lo devuelvo.", "Nunca más.", "Quiero un reembolso.", "")},
    "neu": {"en": ("We'll see how it lasts.", "Three stars.", ""),
            "de": ("Mal sehen, wie lange es hält.", "Drei Sterne.", ""),
            "fr": ("On verra dans le temps.", "Trois étoiles.", ""),
            "es": ("Ya veremos cuánto dura.", "Tres estrellas.", "")},
}
TITLES = {
    "pos": {"en": ("Great", "Love it", "Excellent product", "Worth it"), "de": ("Top", "Sehr gut", "Empfehlenswert"),
            "fr": ("Top", "Très bien", "Excellent"), "es": ("Genial", "Muy bueno", "Excelente")},
    "neg": {"en": ("Disappointing", "Broken", "Avoid"), "de": ("Enttäuschend", "Kaputt", "Schlecht"),
            "fr": ("Décevant", "Cassé", "Nul"), "es": ("Decepcionante", "Roto", "Malo")},
    "neu": {"en": ("Okay", "Mixed", "Average"), "de": ("Okay", "Geht so", "Mittelmaß"),
            "fr": ("Correct", "Mitigé", "Moyen"), "es": ("Normal", "Regular", "Aceptable")},
}


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


def review_texts(rng: np.random.Generator, rating: np.ndarray, lang: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Titles and bodies whose sentiment follows ``rating`` (1..5) in language ``lang``."""
    n = rating.shape[0]
    title = np.empty(n, dtype=object)
    body = np.empty(n, dtype=object)
    for li, lg in enumerate(LANGS):
        for r in range(1, 6):
            m = np.flatnonzero((lang == li) & (rating == r))
            k = m.size
            if k == 0:
                continue
            mood = "pos" if r >= 4 else "neg" if r <= 2 else "neu"
            title[m] = _pick(rng, TITLES[mood][lg], k)
            opener = _pick(rng, OPENERS[mood][lg], k)
            closer = _pick(rng, CLOSERS[mood][lg], k)
            if r == 5:
                a = _sentence(_clauses(rng, POSITIVE[lg], lg, k))
                b = np.where(rng.random(k) < 0.5, _sentence(_clauses(rng, POSITIVE[lg], lg, k)), "")
            elif r == 4:
                a = np.where(rng.random(k) < 0.3, _sentence(_pick(rng, NOT_BAD[lg], k)),
                             _sentence(_clauses(rng, POSITIVE[lg], lg, k)))
                b = np.full(k, "", dtype=object)
            elif r == 3:
                mixed = _clauses(rng, POSITIVE[lg], lg, k) + ", " + BUT[lg] + " " + _clauses(rng, NEGATIVE[lg], lg, k)
                a = np.where(rng.random(k) < 0.6, _sentence(mixed), _sentence(_pick(rng, NEUTRAL[lg], k)))
                b = np.full(k, "", dtype=object)
            elif r == 2:
                a = np.where(rng.random(k) < 0.35, _sentence(_pick(rng, NOT_GOOD[lg], k)),
                             _sentence(_clauses(rng, NEGATIVE[lg], lg, k)))
                b = np.full(k, "", dtype=object)
            else:
                a = _sentence(_clauses(rng, NEGATIVE[lg], lg, k))
                b = np.where(rng.random(k) < 0.6, _sentence(_clauses(rng, NEGATIVE[lg], lg, k)), "")
            body[m] = _join(rng, opener, a, b, closer)
    return title, body


# Support tickets: topic -> (sentiment, subjects, problem clauses) per language.
TICKET_TOPICS: dict[str, tuple[str, dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = {
    "late_delivery": ("negative",
                      {"en": ("Where is my order {o}?", "Order {o} still not delivered", "Late delivery"),
                       "de": ("Wo bleibt meine Bestellung {o}?", "Lieferung verspätet")},
                      {"en": ("my order {o} was due days ago and still has not arrived",
                              "the tracking for {o} has not moved for a week"),
                       "de": ("meine Bestellung {o} ist immer noch nicht angekommen",
                              "die Sendungsverfolgung für {o} zeigt seit Tagen nichts Neues")}),
    "damaged_item": ("negative",
                     {"en": ("Damaged item in order {o}", "Broken product", "Item arrived broken"),
                      "de": ("Ware beschädigt ({o})", "Artikel kaputt angekommen")},
                     {"en": ("the item in order {o} arrived broken, the box was crushed",
                             "the product stopped working after two days"),
                      "de": ("der Artikel aus {o} kam beschädigt an", "das Produkt funktioniert nach zwei Tagen nicht mehr")}),
    "refund": ("negative",
               {"en": ("Refund for {o}", "Still waiting for my refund", "Return not processed"),
                "de": ("Erstattung für {o}", "Rückerstattung fehlt")},
               {"en": ("I returned order {o} two weeks ago and have not received my money",
                       "you charged me twice for {o}"),
                "de": ("ich habe {o} vor zwei Wochen zurückgeschickt und noch kein Geld erhalten",
                       "mir wurde {o} doppelt berechnet")}),
    "product_question": ("neutral",
                         {"en": ("Question about sizes", "Is this product compatible?", "Product question"),
                          "de": ("Frage zur Größe", "Frage zum Produkt")},
                         {"en": ("could you tell me whether the item runs small or large",
                                 "I would like to know if the charger works with older phones"),
                          "de": ("fällt der Artikel eher klein oder groß aus",
                                 "ist das Ladegerät mit älteren Handys kompatibel")}),
    "account": ("neutral",
                {"en": ("Change my address", "Cannot log in", "Update account e-mail"),
                 "de": ("Adresse ändern", "Login funktioniert nicht")},
                {"en": ("I moved and need to change the delivery address on my account",
                        "the password reset link does not arrive"),
                 "de": ("ich bin umgezogen und möchte meine Adresse ändern",
                        "der Link zum Zurücksetzen des Passworts kommt nicht an")}),
    "thanks": ("positive",
               {"en": ("Thank you!", "Great service", "Compliments to the team"),
                "de": ("Vielen Dank!", "Toller Service")},
               {"en": ("the replacement for {o} arrived quickly, thank you so much",
                       "your colleague on the phone was extremely helpful"),
                "de": ("der Ersatz für {o} kam schnell an, vielen Dank",
                       "Ihre Kollegin am Telefon war sehr hilfsbereit")}),
}
TICKET_GREETINGS = {"en": ("Hello,", "Hi team,", "Dear customer service,", ""),
                    "de": ("Hallo,", "Guten Tag,", "Sehr geehrte Damen und Herren,", "")}
TICKET_EXTRA = {
    "negative": {"en": ("This is {i}frustrating.", "I am {i}annoyed, this is the second time.", "Please fix this today."),
                 "de": ("Das ist {i}ärgerlich.", "Ich bin {i}enttäuscht.", "Bitte kümmern Sie sich heute darum.")},
    "neutral": {"en": ("Thanks in advance.", "No rush.", "Let me know."),
                "de": ("Danke im Voraus.", "Keine Eile.", "Geben Sie mir Bescheid.")},
    "positive": {"en": ("Keep up the {i}good work!", "You made my day."),
                 "de": ("Weiter so!", "Sie haben meinen Tag gerettet.")},
}
TICKET_SIGNOFF = {"en": ("Best regards", "Thanks", "Cheers", ""), "de": ("Viele Grüße", "Danke", "MfG", "")}


def ticket_texts(rng: np.random.Generator, topic: np.ndarray, lang: np.ndarray,
                 order_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
            subject[m] = [s.replace("{o}", r) for s, r in zip(subj, ref[m])]
            problem = _sentence(np.array([p.replace("{o}", r) for p, r in zip(_pick(rng, problems[lg], k), ref[m])],
                                         dtype=object))
            extra = _pick(rng, TICKET_EXTRA[mood][lg], k)
            inten = _pick(rng, INTENSIFIERS[lg if lg in INTENSIFIERS else "en"], k)
            extra = np.array([e.replace("{i}", i) for e, i in zip(extra, inten)], dtype=object)
            body[m] = _join(rng, _pick(rng, TICKET_GREETINGS[lg], k), problem, extra, _pick(rng, TICKET_SIGNOFF[lg], k))
    return subject, body

"""Phrase banks of generated reviews, per language (lower-case clauses unless a sentence).

Real reviews do not map one-to-one to their rating: a 4-star review names a flaw, a
3-star one may be only facts, a 1-star one can be sarcastic praise, and some ratings
contradict their text outright. The banks below give :mod:`cx.generate.texts` the parts
for those styles; "{i}" marks where an intensifier may go.
"""

from __future__ import annotations

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
    "en": (
        "the quality is {i}good",
        "it arrived {i}fast",
        "the fit is {i}perfect",
        "it works {i}well",
        'the "premium" finish looks {i}nice',
        "great value for money",
        "the packaging was {i}careful",
        "my kids love it",
        "setup took two minutes, {i}easy",
    ),
    "de": (
        "die Qualität ist {i}gut",
        "die Lieferung war {i}schnell",
        "es passt {i}perfekt",
        "funktioniert {i}zuverlässig",
        "das Preis-Leistungs-Verhältnis ist {i}top",
        "die Verarbeitung ist {i}hochwertig",
        "sieht {i}schön aus, genau wie auf dem Foto",
    ),
    "fr": (
        "la qualité est {i}bonne",
        "livraison {i}rapide",
        "la taille est {i}parfaite",
        "fonctionne {i}bien",
        "le rapport qualité-prix est {i}excellent",
        "l'emballage était {i}soigné",
        "le produit est {i}joli, comme sur la photo",
    ),
    "es": (
        "la calidad es {i}buena",
        "llegó {i}rápido",
        "la talla es {i}perfecta",
        "funciona {i}bien",
        "la relación calidad-precio es {i}buena",
        "el embalaje era {i}cuidadoso",
        "es {i}bonito",
    ),
}
NEGATIVE = {
    "en": (
        "the quality is {i}poor",
        "shipping was {i}slow",
        "it broke after a week",
        "the size is {i}off",
        "it stopped working after two days",
        "customer service was {i}unhelpful",
        'the "new" item looked used',
        "way too expensive for what it is",
        "it smells {i}bad",
    ),
    "de": (
        "die Qualität ist {i}schlecht",
        "die Lieferung war {i}langsam",
        "nach einer Woche kaputt",
        "die Größe passt {i}nicht",
        "der Kundenservice war {i}unfreundlich",
        "viel zu teuer",
        "das Material fühlt sich {i}billig an",
    ),
    "fr": (
        "la qualité est {i}médiocre",
        "la livraison était {i}lente",
        "cassé au bout d'une semaine",
        "la taille ne correspond pas",
        "le service client était {i}désagréable",
        "beaucoup trop cher",
        "le produit est arrivé abîmé",
    ),
    "es": (
        "la calidad es {i}mala",
        "el envío fue {i}lento",
        "se rompió en una semana",
        "la talla no corresponde",
        "el servicio al cliente fue {i}malo",
        "demasiado caro",
        "llegó dañado",
    ),
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
    "pos": {
        "en": ("Love it!", "Very happy.", "Great purchase.", "Excellent.", "Five stars from me."),
        "de": ("Super!", "Sehr zufrieden.", "Toller Kauf.", "Klasse."),
        "fr": ("Génial !", "Très satisfait.", "Super achat.", "Parfait."),
        "es": ("¡Me encanta!", "Muy contento.", "Gran compra.", "Excelente."),
    },
    "neg": {
        "en": ("Disappointed.", "Terrible.", "Do not buy.", "What a waste."),
        "de": ("Enttäuscht.", "Schrecklich.", "Finger weg.", "Ärgerlich."),
        "fr": ("Déçu.", "Horrible.", "À éviter.", "Quelle arnaque."),
        "es": ("Decepcionado.", "Horrible.", "No lo compréis.", "Una pena."),
    },
    "neu": {
        "en": ("Hmm.", "Mixed feelings.", "So-so.", ""),
        "de": ("Naja.", "Gemischte Gefühle.", "Geht so.", ""),
        "fr": ("Bof.", "Avis mitigé.", "Moyen.", ""),
        "es": ("Regular.", "Sentimientos encontrados.", "Así así.", ""),
    },
}
CLOSERS = {
    "pos": {
        "en": ("Would buy again.", "Highly recommended!", "Thanks!", ""),
        "de": ("Gerne wieder.", "Klare Empfehlung!", "Danke!", ""),
        "fr": ("Je recommande !", "J'achèterai à nouveau.", "Merci !", ""),
        "es": ("Lo recomiendo.", "Volvería a comprar.", "¡Gracias!", ""),
    },
    "neg": {
        "en": ("Returning it.", "Never again.", "I want a refund.", ""),
        "de": ("Geht zurück.", "Nie wieder.", "Ich will mein Geld zurück.", ""),
        "fr": ("Je le renvoie.", "Plus jamais.", "Je veux être remboursé.", ""),
        "es": ("Lo devuelvo.", "Nunca más.", "Quiero un reembolso.", ""),
    },
    "neu": {
        "en": ("We'll see how it lasts.", "Three stars.", ""),
        "de": ("Mal sehen, wie lange es hält.", "Drei Sterne.", ""),
        "fr": ("On verra dans le temps.", "Trois étoiles.", ""),
        "es": ("Ya veremos cuánto dura.", "Tres estrellas.", ""),
    },
}
TITLES = {
    "pos": {
        "en": ("Great", "Love it", "Excellent product", "Worth it"),
        "de": ("Top", "Sehr gut", "Empfehlenswert"),
        "fr": ("Top", "Très bien", "Excellent"),
        "es": ("Genial", "Muy bueno", "Excelente"),
    },
    "neg": {
        "en": ("Disappointing", "Broken", "Avoid"),
        "de": ("Enttäuschend", "Kaputt", "Schlecht"),
        "fr": ("Décevant", "Cassé", "Nul"),
        "es": ("Decepcionante", "Roto", "Malo"),
    },
    "neu": {
        "en": ("Okay", "Mixed", "Average"),
        "de": ("Okay", "Geht so", "Mittelmaß"),
        "fr": ("Correct", "Mitigé", "Moyen"),
        "es": ("Normal", "Regular", "Aceptable"),
    },
}


# Small flaws that 4-star (and some 5-star) reviews mention after the praise.
MINOR = {
    "en": (
        "the sleeves are a bit long",
        "it runs slightly small",
        "delivery took a few days longer than expected",
        "the colour is a little darker than on the photo",
        "the fabric wrinkles easily",
        "the zip is a bit stiff",
    ),
    "de": (
        "die Ärmel sind etwas lang",
        "es fällt etwas klein aus",
        "die Lieferung dauerte ein paar Tage länger",
        "die Farbe ist etwas dunkler als auf dem Foto",
        "der Stoff knittert leicht",
        "der Reißverschluss klemmt etwas",
    ),
    "fr": (
        "les manches sont un peu longues",
        "ça taille un peu petit",
        "la livraison a pris quelques jours de plus",
        "la couleur est un peu plus foncée que sur la photo",
        "le tissu se froisse vite",
        "la fermeture est un peu dure",
    ),
    "es": (
        "las mangas son algo largas",
        "talla un poco pequeño",
        "tardó unos días más de lo previsto",
        "el color es algo más oscuro que en la foto",
        "la tela se arruga fácil",
        "la cremallera va un poco dura",
    ),
}
# Plain facts without an opinion: many 3-star (and some other) reviews are only this.
FACTS = {
    "en": (
        "bought it for my sister",
        "wore it once so far",
        "ordered my usual size",
        "it came in a plain box",
        "second one I have ordered",
        "got it on sale",
    ),
    "de": (
        "für meine Schwester gekauft",
        "bisher einmal getragen",
        "in meiner üblichen Größe bestellt",
        "kam in einem schlichten Karton",
        "schon das zweite Mal bestellt",
        "im Angebot gekauft",
    ),
    "fr": (
        "acheté pour ma sœur",
        "porté une fois pour l'instant",
        "commandé dans ma taille habituelle",
        "arrivé dans un carton simple",
        "c'est le deuxième que je commande",
        "acheté en promo",
    ),
    "es": (
        "lo compré para mi hermana",
        "solo lo he usado una vez",
        "pedí mi talla de siempre",
        "llegó en una caja sencilla",
        "es el segundo que pido",
        "lo compré en oferta",
    ),
}
# Sarcasm: positive words, negative meaning (1-2 stars).
SARCASM = {
    "en": (
        "Oh great, it fell apart after one wash.",
        "Just perfect: two weeks late and the wrong size.",
        "Love paying full price for loose threads.",
        "Wonderful quality, if you like holes.",
        "Fantastic, yet another order that never showed up.",
        "Brilliant, the colour ran all over my white shirts.",
    ),
    "de": (
        "Na toll, nach einer Wäsche auseinandergefallen.",
        "Super, zwei Wochen zu spät und in der falschen Größe.",
        "Ganz große Klasse, die Naht ist schon offen.",
        "Wunderbare Qualität, wenn man Löcher mag.",
        "Prima, wieder eine Bestellung, die nie ankam.",
    ),
    "fr": (
        "Génial, il s'est défait après un lavage.",
        "Parfait : deux semaines de retard et la mauvaise taille.",
        "Super qualité, si on aime les trous.",
        "Bravo, encore une commande jamais arrivée.",
        "Magnifique, la couleur a déteint sur tout mon linge.",
    ),
    "es": (
        "Genial, se deshizo tras un lavado.",
        "Perfecto: dos semanas tarde y en otra talla.",
        "Qué maravilla de calidad, si te gustan los agujeros.",
        "Estupendo, otro pedido que nunca llegó.",
        "Fantástico, destiñó toda mi ropa blanca.",
    ),
}
# Whole bodies of one or two words (or an emoji), by mood.
SHORT = {
    "pos": {
        "en": ("Love it", "great", "perfect!!", "👍", "10/10", "nice"),
        "de": ("Super", "top", "passt 👍", "gerne wieder"),
        "fr": ("Top", "parfait", "j'adore", "👍"),
        "es": ("Genial", "perfecto", "me encanta", "👍"),
    },
    "neg": {
        "en": ("meh", "junk", "👎", "waste of money", "no"),
        "de": ("Mist", "nie wieder", "👎", "schade"),
        "fr": ("Nul", "bof bof", "👎", "dommage"),
        "es": ("Malo", "fatal", "👎", "una pena"),
    },
    "neu": {
        "en": ("ok", "fine", "it's ok I guess", "average"),
        "de": ("ok", "geht", "passt schon", "mittel"),
        "fr": ("ok", "correct", "ça va", "moyen"),
        "es": ("ok", "normal", "bien sin más", "regular"),
    },
}

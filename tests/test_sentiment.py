"""Sentiment: lexicon units, label rules, a trained multilingual model, fallback, conflicts, run()."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from cx.errors import NothingToDo
from cx.models import sentiment as st
from cx.models import sentiment_lexicon as lex
from cx.models.sentiment import SentimentConfig, score_texts

# Polar vocabulary deliberately outside the lexicon (checked below), in lexicon languages
# and in languages the lexicon does not know at all.
VOCAB: dict[str, dict[str, list[str]]] = {
    "en": {
        "pos": ["resplendent", "over the moon", "spotless", "marvellous", "exceeded expectations", "a gem", "splendid"],
        "neg": ["shoddy", "abysmal", "mouldy", "seeping", "fell apart", "swindled", "shabby"],
        "mid": ["average", "so-so", "mediocre at best", "unremarkable", "nothing special", "middling"],
        "filler": ["the jacket", "this lamp", "delivery", "the colour", "my order", "the box", "overall"],
    },
    "de": {
        "pos": ["entzückend", "tadellos", "bildhübsch", "erstklassig", "makellos", "genau richtig"],
        "neg": ["klapprig", "wackelig", "zerkratzt", "undicht", "verschimmelt", "Wucher"],
        "mid": ["durchschnittlich", "mittelmäßig", "okay", "geht so", "nichts Besonderes", "solala"],
        "filler": ["die Jacke", "diese Lampe", "Lieferung", "die Farbe", "meine Bestellung", "insgesamt"],
    },
    "fr": {
        "pos": ["ravissant", "somptueux", "irréprochable", "enchantée", "au top du top", "nickel"],
        "neg": ["bâclé", "rayé", "moisi", "minable", "qui fuit", "branlant"],
        "mid": ["moyen", "correct sans plus", "passable", "quelconque", "ordinaire", "bof"],
        "filler": ["la veste", "cette lampe", "livraison", "la couleur", "ma commande", "dans l'ensemble"],
    },
    "es": {
        "pos": ["primoroso", "impecable", "encantadora", "de lujo", "una joya", "espléndido"],
        "neg": ["chapucero", "rayado", "mohoso", "cutre", "se descose", "endeble"],
        "mid": ["regular", "normalito", "pasable", "ni fu ni fa", "corriente", "del montón"],
        "filler": ["la chaqueta", "esta lámpara", "el envío", "el color", "mi pedido", "en general"],
    },
    "pl": {
        "pos": ["rewelacja", "świetny", "polecam gorąco", "cudowny", "bez zarzutu", "znakomity"],
        "neg": ["beznadziejny", "zepsuty", "tandeta", "porysowany", "rozczarowanie", "fatalny"],
        "mid": ["przeciętny", "taki sobie", "w porządku", "średni", "zwyczajny", "bez rewelacji"],
        "filler": ["kurtka", "ta lampa", "dostawa", "kolor", "moje zamówienie", "ogólnie"],
    },
    "tr": {
        "pos": ["harika", "mükemmel", "bayıldım", "kusursuz", "çok şık", "muhteşem"],
        "neg": ["berbat", "bozuk", "rezalet", "çizik", "dandik", "pişmanım"],
        "mid": ["idare eder", "fena değil", "ortalama", "sıradan", "vasat", "normal"],
        "filler": ["ceket", "bu lamba", "kargo", "renk", "siparişim", "genel olarak"],
    },
}
RATINGS = {"pos": (4, 5), "neg": (1, 2), "mid": (3,)}


def synthetic_reviews(
    n: int, seed: int, noise: float = 0.08, shares: tuple[float, float, float] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    """Rated multilingual reviews: two polar phrases + fillers, with some rating noise;
    ``shares`` of positive, negative and middling reviews."""
    rng = np.random.default_rng(seed)
    rows = []
    langs = list(VOCAB)
    for i in range(n):
        lang = langs[i % len(langs)]
        pol = ("pos", "neg", "mid")[rng.choice(3, p=list(shares))]
        words = VOCAB[lang]
        phrase = [rng.choice(words[pol]), rng.choice(words["filler"]), rng.choice(words[pol])]
        rng.shuffle(phrase)
        rating = int(rng.choice(RATINGS[pol]))
        if rng.random() < noise:
            rating = int(rng.integers(1, 6))
        rows.append(
            {
                "text_id": f"R{i}",
                "source": "review",
                "customer_id": f"C{i % 40}",
                "product_id": f"P{i % 9}",
                "rating": rating,
                "title": None,
                "body": " ".join(phrase) + ".",
                "language": lang if i % 4 else None,
                "created_at": pd.Timestamp("2024-01-01"),
            }
        )
    return pd.DataFrame(rows)


def tickets(n: int) -> pd.DataFrame:
    bodies = [
        "Order arrived shoddy and seeping, I want my money back",
        "Die Lieferung war tadellos, danke",
        "Mi pedido llegó rayado y endeble",
        "Kargo berbat, siparişim bozuk",
    ]
    return pd.DataFrame(
        {
            "text_id": [f"T{i}" for i in range(n)],
            "source": "ticket",
            "customer_id": [f"C{i}" for i in range(n)],
            "product_id": None,
            "rating": None,
            "title": "Support",
            "body": [bodies[i % len(bodies)] for i in range(n)],
            "language": None,
            "created_at": pd.Timestamp("2024-01-02"),
        }
    )


# --- a harder, hand-written multilingual set ------------------------------------------------
# Real reviews are J-shaped (mostly 5 stars), short, mixed ("good, but..."), negated ("not
# worth it", "kann ich niemandem empfehlen"), emoji-laden, sometimes title-only. Lines are
# "rating|title|body". The unseen reviews share no sentence with the rated ones, and were
# written after the lexicon was last extended (nothing was tuned on them).
RATED_REVIEWS: dict[str, str] = {
    "en": """
5|Love it!|Exactly what I was looking for, fits perfectly and the fabric feels great.
5||Fast delivery, well packaged. Would buy again.
5|Great value|Can't believe the price, quality is way better than expected 👍
5|Five stars|My daughter adores it. Thank you!!
5||Does the job. No complaints at all.
5|Perfect|
5|Super comfy|Wore them all weekend, my feet didn't hurt once.
5||Second time ordering, still as good as the first one.
5|Highly recommend|Sturdy, easy to assemble, looks lovely in the living room.
5||Arrived a day early and works like a charm 😍
5|Brilliant|Really happy with this purchase.
5||Nice colour, true to size.
4|Pretty good|Good quality overall, the zip is a bit stiff though.
4||Nice lamp, bulb not included which was a little annoying.
4|Good|Does what it says, delivery took a while.
3|Okay|It's fine. Nothing special for the price.
3||Average quality, colour slightly different from the photo.
3|Meh|Not bad but not great either, a bit small.
2|Disappointed|Looked nice at first but the seam came apart after two washes.
2||Too small and the return process was a hassle.
1|Rubbish|Broke on day one. Total waste of money.
1||Never arrived and customer service doesn't answer emails.
1|Do not buy|Cheap plastic, smells awful, going straight back.
1|Awful|Worst purchase this year 😡
5|Absolutely gorgeous|Better than the pictures, I get compliments every time I wear it.
5||Very pleased, the kids use it every day.
4||Solid little kettle, only wish the cable was longer.
3|It's alright|Does the job I suppose, though I expected more for the money.
3||Some things I like, some I don't. Sizing is odd.
2||Not what I expected, the material feels cheap.
1|Not worth it|Stopped working after a week, not impressed at all.
1||Terrible quality, I would not recommend this to anyone.
""",
    "de": """
5|Super!|Passt perfekt und die Qualität ist top. Gerne wieder.
5||Schnelle Lieferung, alles bestens verpackt.
5|Sehr zufrieden|Genau wie beschrieben, mein Mann ist begeistert.
5|Klasse|
5||Tolles Preis-Leistungs-Verhältnis, absolut empfehlenswert 👍
5|Top Produkt|Bequem, schön verarbeitet und hält warm.
5||Bin rundum zufrieden, würde ich jederzeit wieder kaufen.
5|Einfach toll|Meine Tochter liebt es!!
5||Funktioniert einwandfrei, Aufbau war kinderleicht.
5|Prima|Gute Qualität zum fairen Preis.
5||Sieht in echt noch schöner aus als auf dem Foto 😍
5|Empfehlung|Hatte erst Bedenken, aber ich bin positiv überrascht.
4|Gut|Gutes Produkt, die Farbe ist etwas dunkler als gedacht.
4||Alles okay, nur der Versand hat lange gedauert.
4|Ganz gut|Schöne Tasche, der Riemen könnte stabiler sein.
3|Geht so|Für den Preis in Ordnung, mehr aber auch nicht.
3||Mittelmäßig. Die Größe fällt klein aus.
3|Naja|Nicht schlecht, aber auch nicht wirklich gut.
2|Enttäuscht|Nach einer Woche schon die ersten Fäden gezogen.
2||Leider zu klein und der Umtausch war umständlich.
1|Finger weg|Nach zwei Tagen kaputt. Geld zurück bitte!
1||Ware kam nie an, der Kundenservice meldet sich nicht.
1|Schrott|Billiges Plastik und stinkt fürchterlich.
1|Katastrophe|Der schlechteste Kauf seit langem 😡
5|Wunderschön|Noch besser als erwartet, ich bekomme ständig Komplimente.
5||Sehr gut, die Kinder benutzen es jeden Tag.
4||Solider Wasserkocher, das Kabel könnte länger sein.
3|Ganz okay|Erfüllt seinen Zweck, hätte für das Geld aber mehr erwartet.
3||Manches gefällt mir, manches nicht. Die Größe ist seltsam.
2||Nicht das, was ich erwartet habe, das Material wirkt billig.
1|Lohnt sich nicht|Nach einer Woche funktioniert es nicht mehr, gar nicht zufrieden.
1||Miserable Qualität, kann ich niemandem empfehlen.
""",
    "fr": """
5|Parfait !|Taille parfaitement, tissu très agréable. Je recommande.
5||Livraison rapide, colis bien emballé.
5|Très satisfaite|Conforme à la description, ma fille l'adore.
5|Top|
5||Excellent rapport qualité-prix 👍
5|Génial|Confortable, joli et bien fini.
5||Deuxième commande, toujours aussi contente.
5|Super produit|Facile à monter, rendu magnifique dans le salon.
5||Arrivé en avance et fonctionne à merveille 😍
5|Bravo|Vraiment ravie de cet achat !!
5||Belle couleur, taille normalement.
5|Rien à dire|Produit impeccable, vendeur sérieux.
4|Bien|Bonne qualité dans l'ensemble, la fermeture est un peu dure.
4||Jolie lampe, ampoule non fournie dommage.
4|Satisfait|Fait le travail, livraison un peu longue.
3|Correct|C'est correct, sans plus pour le prix.
3||Qualité moyenne, couleur un peu différente de la photo.
3|Bof|Pas mal mais pas génial non plus, un peu petit.
2|Déçue|Joli au début mais la couture a lâché après deux lavages.
2||Trop petit et le retour a été compliqué.
1|Nul|Cassé dès le premier jour. De l'argent jeté par la fenêtre.
1||Jamais reçu et le service client ne répond pas.
1|À fuir|Plastique bas de gamme, odeur horrible, je renvoie.
1|Arnaque|Le pire achat de l'année 😡
5|Magnifique|Encore mieux qu'en photo, on me fait des compliments à chaque fois.
5||Très contente, les enfants l'utilisent tous les jours.
4||Bonne petite bouilloire, le câble pourrait être plus long.
3|Ça va|Fait le job, mais j'attendais mieux pour ce prix.
3||Il y a du bon et du moins bon. Les tailles sont bizarres.
2||Pas ce que j'attendais, la matière fait bon marché.
1|Ne vaut pas le coup|Ne fonctionne plus après une semaine, pas du tout satisfait.
1||Qualité déplorable, je ne le recommande à personne.
""",
    "es": """
5|¡Me encanta!|Me queda perfecto y la tela es muy agradable.
5||Envío rapidísimo y bien embalado.
5|Muy contenta|Tal como se describe, a mi hijo le encanta.
5|Genial|
5||Calidad precio inmejorable, lo recomiendo 👍
5|Excelente|Cómodo, bonito y bien acabado.
5||Segunda vez que lo compro y sigue igual de bien.
5|Perfecto|Fácil de montar, queda precioso en el salón.
5||Llegó antes de lo previsto y funciona de maravilla 😍
5|Un acierto|Muy satisfecha con la compra!!
5||Bonito color, talla correcta.
5|Sin pegas|Todo perfecto, vendedor de confianza.
4|Bien|Buena calidad en general, la cremallera va un poco dura.
4||Lámpara bonita, no trae bombilla, una pena.
4|Cumple|Hace su función, el envío tardó bastante.
3|Normal|Está bien, sin más por el precio.
3||Calidad regular, el color no es igual que en la foto.
3|Ni fu ni fa|No está mal pero tampoco es gran cosa, algo pequeño.
2|Decepcionada|Bonito al principio pero se descosió tras dos lavados.
2||Demasiado pequeño y la devolución fue un lío.
1|Fatal|Se rompió el primer día. Dinero tirado.
1||Nunca llegó y atención al cliente no contesta.
1|No lo compréis|Plástico barato, huele fatal, lo devuelvo.
1|Horrible|La peor compra del año 😡
5|Precioso|Mejor que en las fotos, me lo elogian cada vez que me lo pongo.
5||Muy contenta, los niños lo usan a diario.
4||Buen hervidor, solo le falta un cable más largo.
3|Aceptable|Cumple, aunque esperaba más por ese precio.
3||Tiene cosas buenas y malas. Las tallas son raras.
2||No es lo que esperaba, el material parece barato.
1|No merece la pena|Dejó de funcionar a la semana, nada satisfecha.
1||Calidad pésima, no se lo recomendaría a nadie.
""",
    "it": """
5|Lo adoro!|Veste benissimo e il tessuto è morbidissimo.
5||Spedizione velocissima, imballato bene.
5|Molto soddisfatta|Come da descrizione, mia figlia lo adora.
5|Ottimo|
5||Ottimo rapporto qualità prezzo, consigliato 👍
5|Eccellente|Comodo, bello e ben rifinito.
5||Secondo acquisto, sempre soddisfatto.
5|Perfetto|Facile da montare, sta benissimo in salotto.
5||Arrivato in anticipo e funziona alla grande 😍
5|Bellissimo|Davvero contenta dell'acquisto!!
5||Bel colore, taglia giusta.
5|Niente da dire|Prodotto impeccabile, venditore serio.
4|Buono|Buona qualità nel complesso, la zip è un po' dura.
4||Bella lampada, lampadina non inclusa peccato.
4|Soddisfatto|Fa il suo lavoro, consegna un po' lenta.
3|Discreto|Va bene, niente di più per il prezzo.
3||Qualità nella media, colore un po' diverso dalla foto.
3|Così così|Non è male ma nemmeno granché, un po' piccolo.
2|Delusa|Carino all'inizio ma la cucitura si è aperta dopo due lavaggi.
2||Troppo piccolo e il reso è stato complicato.
1|Pessimo|Rotto il primo giorno. Soldi buttati.
1||Mai arrivato e il servizio clienti non risponde.
1|Da evitare|Plastica scadente, puzza, lo rimando indietro.
1|Vergognoso|Il peggior acquisto dell'anno 😡
5|Stupendo|Meglio che in foto, ricevo complimenti ogni volta.
5||Molto contenta, i bambini lo usano ogni giorno.
4||Bollitore solido, il cavo potrebbe essere più lungo.
3|Accettabile|Fa il suo, ma per quel prezzo mi aspettavo di più.
3||Alcune cose mi piacciono, altre no. Le taglie sono strane.
2||Non è quello che mi aspettavo, il materiale sembra economico.
1|Non ne vale la pena|Ha smesso di funzionare dopo una settimana, per niente soddisfatta.
1||Qualità pessima, non lo consiglierei a nessuno.
""",
    "nl": """
5|Top!|Past perfect en de stof voelt heerlijk aan.
5||Snelle levering, goed verpakt.
5|Heel tevreden|Precies zoals beschreven, mijn dochter is er gek op.
5|Prima|
5||Prijs-kwaliteit is super, echt een aanrader 👍
5|Uitstekend|Comfortabel, mooi en netjes afgewerkt.
5||Tweede keer besteld, nog steeds even blij.
5|Perfect|Makkelijk in elkaar te zetten, staat prachtig in de woonkamer.
5||Een dag eerder binnen en werkt als een zonnetje 😍
5|Geweldig|Echt blij met deze aankoop!!
5||Mooie kleur, valt normaal.
5|Niets op aan te merken|Prima product, betrouwbare verkoper.
4|Goed|Goede kwaliteit, de rits is wel wat stroef.
4||Mooie lamp, lampje niet meegeleverd jammer.
4|Tevreden|Doet wat het moet doen, levering duurde wel lang.
3|Redelijk|Het is oké, niet meer dan dat voor de prijs.
3||Gemiddelde kwaliteit, kleur wijkt iets af van de foto.
3|Matig|Niet slecht maar ook niet geweldig, beetje klein.
2|Teleurgesteld|Eerst leuk maar de naad ging na twee wasbeurten los.
2||Te klein en het retourneren was een gedoe.
1|Waardeloos|Na één dag kapot. Weggegooid geld.
1||Nooit aangekomen en de klantenservice reageert niet.
1|Niet kopen|Goedkoop plastic, stinkt vreselijk, gaat terug.
1|Verschrikkelijk|Slechtste aankoop van het jaar 😡
5|Prachtig|Nog mooier dan op de foto, ik krijg steeds complimenten.
5||Erg blij mee, de kinderen gebruiken het elke dag.
4||Degelijke waterkoker, alleen het snoer mag langer.
3|Gaat wel|Doet wat het moet doen, maar ik had meer verwacht voor dit geld.
3||Sommige dingen vind ik fijn, andere niet. De maten zijn vreemd.
2||Niet wat ik verwachtte, het materiaal voelt goedkoop.
1|Niet de moeite waard|Werkt na een week niet meer, helemaal niet tevreden.
1||Belabberde kwaliteit, zou het niemand aanraden.
""",
    "pt": """
5|Adorei!|Serviu perfeitamente e o tecido é muito agradável.
5||Entrega rápida, bem embalado.
5|Muito satisfeita|Igual à descrição, minha filha amou.
5|Ótimo|
5||Excelente custo-benefício, recomendo 👍
5|Excelente|Confortável, bonito e bem acabado.
5||Segunda compra, continuo satisfeito.
5|Perfeito|Fácil de montar, ficou lindo na sala.
5||Chegou antes do prazo e funciona muito bem 😍
5|Maravilhoso|Muito feliz com a compra!!
5||Cor bonita, tamanho certo.
5|Nada a reclamar|Produto impecável, vendedor confiável.
4|Bom|Boa qualidade no geral, o zíper é um pouco duro.
4||Luminária bonita, não vem com lâmpada, uma pena.
4|Satisfeito|Cumpre o que promete, a entrega demorou um pouco.
3|Razoável|É ok, nada de mais pelo preço.
3||Qualidade mediana, a cor é um pouco diferente da foto.
3|Mais ou menos|Não é ruim mas também não é ótimo, um pouco pequeno.
2|Decepcionada|Bonito no início mas a costura abriu depois de duas lavagens.
2||Pequeno demais e a devolução foi complicada.
1|Péssimo|Quebrou no primeiro dia. Dinheiro jogado fora.
1||Nunca chegou e o atendimento não responde.
1|Não comprem|Plástico barato, cheiro horrível, vou devolver.
1|Horrível|A pior compra do ano 😡
5|Lindo demais|Melhor que nas fotos, recebo elogios sempre que uso.
5||Muito contente, as crianças usam todos os dias.
4||Chaleira boa, só o cabo podia ser maior.
3|Aceitável|Cumpre a função, mas esperava mais por esse preço.
3||Tem coisas boas e ruins. Os tamanhos são estranhos.
2||Não é o que eu esperava, o material parece barato.
1|Não vale a pena|Parou de funcionar depois de uma semana, nada satisfeita.
1||Qualidade péssima, não recomendo a ninguém.
""",
}
UNSEEN_REVIEWS: dict[str, str] = {
    "en": """
5|Wow|The backpack is roomy, the straps are padded and it survived a week of hiking.
5||Exceeded my expectations, will order the other colour too.
4|Nice shoes|Comfortable from day one, though the laces are a bit short.
3||The blender is ok. Loud, but it crushes ice.
3|So-so|Arrived on time. The print is slightly blurry up close.
2|Meh|The handle wobbles and the lid doesn't close properly.
1||Returned it. The screen had dead pixels and support was useless.
1|Scam|Paid for two, received one. Still waiting for a reply.
""",
    "de": """
5|Wow|Der Rucksack ist geräumig, die Träger sind gepolstert und er hat eine Woche Wandern überstanden.
5||Hat meine Erwartungen übertroffen, bestelle noch die andere Farbe.
4|Schöne Schuhe|Vom ersten Tag an bequem, nur die Schnürsenkel sind etwas kurz.
3||Der Mixer ist okay. Laut, aber er zerkleinert Eis.
3|Mittelprächtig|Kam pünktlich. Der Druck ist aus der Nähe etwas unscharf.
2|Naja|Der Griff wackelt und der Deckel schließt nicht richtig.
1||Zurückgeschickt. Der Bildschirm hatte Pixelfehler und der Support war nutzlos.
1|Abzocke|Zwei bezahlt, eins bekommen. Warte immer noch auf eine Antwort.
""",
    "fr": """
5|Waouh|Le sac à dos est spacieux, les bretelles rembourrées, il a tenu une semaine de randonnée.
5||Au-delà de mes attentes, je vais commander l'autre couleur aussi.
4|Jolies chaussures|Confortables dès le premier jour, mais les lacets sont un peu courts.
3||Le blender est correct. Bruyant, mais il pile la glace.
3|Moyen|Arrivé à l'heure. L'impression est un peu floue de près.
2|Bof|La poignée bouge et le couvercle ne ferme pas bien.
1||Renvoyé. L'écran avait des pixels morts et le support était inutile.
1|Escroquerie|J'en ai payé deux, reçu un seul. J'attends toujours une réponse.
""",
    "es": """
5|Guau|La mochila es amplia, las correas acolchadas y aguantó una semana de senderismo.
5||Superó mis expectativas, voy a pedir el otro color también.
4|Zapatos bonitos|Cómodos desde el primer día, aunque los cordones son algo cortos.
3||La batidora está bien. Ruidosa, pero tritura hielo.
3|Regular|Llegó a tiempo. La impresión se ve algo borrosa de cerca.
2|Meh|El asa se mueve y la tapa no cierra bien.
1||Lo devolví. La pantalla tenía píxeles muertos y el soporte no sirvió de nada.
1|Timo|Pagué dos y recibí uno. Sigo esperando respuesta.
""",
    "it": """
5|Wow|Lo zaino è spazioso, gli spallacci imbottiti e ha retto una settimana di trekking.
5||Ha superato le mie aspettative, ordinerò anche l'altro colore.
4|Belle scarpe|Comode dal primo giorno, anche se i lacci sono un po' corti.
3||Il frullatore è ok. Rumoroso, ma trita il ghiaccio.
3|Nella media|Arrivato puntuale. La stampa è un po' sfocata da vicino.
2|Mah|Il manico balla e il coperchio non chiude bene.
1||Restituito. Lo schermo aveva pixel morti e l'assistenza è stata inutile.
1|Truffa|Pagati due, ricevuto uno. Sto ancora aspettando una risposta.
""",
    "nl": """
5|Wauw|De rugzak is ruim, de banden zijn gevoerd en hij heeft een week wandelen overleefd.
5||Overtrof mijn verwachtingen, ik bestel de andere kleur ook.
4|Mooie schoenen|Vanaf dag één comfortabel, al zijn de veters wat kort.
3||De blender is oké. Luid, maar hij crusht ijs.
3|Middelmatig|Op tijd geleverd. De print is van dichtbij wat wazig.
2|Tja|Het handvat wiebelt en het deksel sluit niet goed.
1||Teruggestuurd. Het scherm had dode pixels en de support was nutteloos.
1|Oplichterij|Twee betaald, één ontvangen. Wacht nog steeds op antwoord.
""",
    "pt": """
5|Uau|A mochila é espaçosa, as alças acolchoadas e aguentou uma semana de trilha.
5||Superou minhas expectativas, vou pedir a outra cor também.
4|Sapatos bonitos|Confortáveis desde o primeiro dia, mas os cadarços são um pouco curtos.
3||O liquidificador é ok. Barulhento, mas tritura gelo.
3|Mais ou menos|Chegou no prazo. A impressão fica um pouco borrada de perto.
2|Hmm|A alça balança e a tampa não fecha direito.
1||Devolvi. A tela tinha pixels mortos e o suporte foi inútil.
1|Golpe|Paguei dois, recebi um. Ainda esperando resposta.
""",
}


def hand_written(blocks: dict[str, str], prefix: str) -> pd.DataFrame:
    rows = []
    for lang, block in blocks.items():
        for i, line in enumerate(line for line in block.strip().splitlines() if line.strip()):
            rating, title, body = line.split("|", 2)
            rows.append(
                {
                    "text_id": f"{prefix}-{lang}-{i}",
                    "source": "review",
                    "customer_id": f"C{i}",
                    "product_id": f"P{i % 5}",
                    "rating": int(rating),
                    "title": title or None,
                    "body": body or None,
                    # a third arrive without a language tag, as from shops that do not record it
                    "language": lang if i % 3 else None,
                    "created_at": pd.Timestamp("2024-01-01"),
                }
            )
    return pd.DataFrame(rows)


def unseen_metrics(result: st.SentimentResult, truth: pd.Series) -> tuple[dict, np.ndarray]:
    """Metrics on reviews whose rating the stage did not see."""
    r = result.reviews.set_index("review_id").loc[truth.index]
    y = st.rating_to_label(truth).to_numpy(dtype=object)
    labels = r["sentiment_label"].to_numpy(dtype=object)
    recall = recall_score(y, labels, labels=list(st.LABELS), average=None, zero_division=0)
    return st.evaluate(y, r["sentiment_score"].to_numpy(), labels), recall


@pytest.fixture(scope="module")
def hard() -> tuple[pd.DataFrame, pd.DataFrame]:
    return hand_written(RATED_REVIEWS, "R"), hand_written(UNSEEN_REVIEWS, "U")


@pytest.fixture(scope="module")
def trained() -> st.SentimentResult:
    texts = pd.concat([synthetic_reviews(900, seed=1), tickets(8)], ignore_index=True)
    texts.loc[texts.index[:60], "rating"] = None  # some unrated reviews
    return score_texts(texts, SentimentConfig())


# --- lexicon ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("positive", "negated"),
    [
        ("This is good", "This is not good"),
        ("Das ist gut", "Das ist nicht gut"),
        ("Das Produkt funktioniert.", "Das Produkt funktioniert nicht."),
        ("C'est bon", "Ce n'est pas bon"),
        ("Je recommande", "Je ne recommande pas"),
        ("Es bueno", "No es bueno"),
        ("È buono", "Non è buono"),
        ("Het is goed", "Het is niet goed"),
        ("É bom", "Não é bom"),
    ],
)
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


@pytest.mark.slow
def test_trained_model_beats_chance_and_lexicon(trained: st.SentimentResult) -> None:
    m = {x.metric: x for x in trained.metrics}
    print(
        f"trained: macro_f1={m['macro_f1'].value:.3f} (lexicon {m['macro_f1'].baseline_value:.3f}) "
        f"auc={m['roc_auc'].value:.3f} (lexicon {m['roc_auc'].baseline_value:.3f})"
    )
    assert trained.model_version == st.SentimentConfig().model_version and trained.fallback is None
    assert m["macro_f1"].value >= 0.7 and m["roc_auc"].value >= 0.85
    assert m["macro_f1"].value > m["macro_f1"].baseline_value and m["macro_f1"].passed
    assert m["roc_auc"].value > m["roc_auc"].baseline_value and m["roc_auc"].passed
    assert m["fallback"].value == 0.0 and m["fallback"].details["published"] == trained.model_version
    assert "not beaten by the lexicon" in m["fallback"].details["reason"]
    per_class = m["macro_f1"].details["f1_per_class"]
    assert np.mean(list(per_class.values())) == pytest.approx(m["macro_f1"].value)
    r = trained.reviews
    assert len(r) == 900 and r["review_id"].is_unique
    assert r["sentiment_score"].between(-1, 1).all()
    assert set(r["sentiment_label"]) <= set(st.LABELS)
    # the label agrees with the sign of the score
    assert (r.loc[r["sentiment_label"] == "positive", "sentiment_score"] > 0).all()
    assert (r.loc[r["sentiment_label"] == "negative", "sentiment_score"] < 0).all()


def test_trained_model_scores_tickets_and_unrated_reviews(trained: st.SentimentResult) -> None:
    t = trained.tickets.set_index("ticket_id")
    assert len(t) == 8 and (t["model_version"] == st.SentimentConfig().model_version).all()
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


@pytest.mark.slow
def test_rating_conflict_in_pipeline_with_strong_text() -> None:
    texts = synthetic_reviews(400, seed=2, noise=0.0)
    texts.loc[0, ["body", "rating"]] = ["abysmal shoddy seeping, fell apart, abysmal.", 5]
    texts.loc[1, ["body", "rating"]] = ["resplendent spotless marvellous, a gem, over the moon.", 1]
    result = score_texts(texts, SentimentConfig())
    flagged = result.reviews.set_index("review_id")["rating_conflict"]
    assert flagged["R0"] and flagged["R1"]
    assert flagged.mean() < 0.05


# --- fallback -----------------------------------------------------------------------------------


def test_fallback_to_lexicon_when_few_labels() -> None:
    texts = pd.DataFrame(
        {
            "text_id": ["a", "b", "c", "d"],
            "source": ["review", "review", "review", "ticket"],
            "customer_id": ["c1", "c2", "c3", "c1"],
            "product_id": ["p1", "p1", "p2", None],
            "rating": [5, 1, 5, None],
            "title": ["Excelente", None, "Terrible", None],
            "body": [
                "Muy bueno, lo recomiendo",
                "Nicht gut, leider kaputt",
                "worst purchase ever, broken",
                "Colis abîmé, très déçu",
            ],
            "language": ["es", None, "en", "fr"],
            "created_at": pd.Timestamp("2024-01-01"),
        }
    )
    result = score_texts(texts, SentimentConfig())
    assert result.fallback == "lexicon" and result.model_version == lex.LEXICON_VERSION
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
    texts = pd.DataFrame(
        {
            "text_id": ["1", "2", "1", "3"],
            "source": ["review", "review", "ticket", "review"],
            "customer_id": ["a", "a", "b", None],
            "product_id": ["p", "q", "p", "p"],
        }
    )
    reviews = pd.DataFrame({"review_id": ["1", "2", "3"], "sentiment_score": [0.5, -0.1, 1.0]})
    ticket_scores = pd.DataFrame({"ticket_id": ["1"], "sentiment_score": [-0.8]})
    per_customer, per_product = st.aggregate_sentiment(pd.concat([reviews, ticket_scores]), texts)
    c = per_customer.set_index("customer_id")["avg_sentiment"]
    assert c["a"] == pytest.approx(0.2) and c["b"] == pytest.approx(-0.8)
    p = per_product.set_index("product_id")["avg_sentiment"]
    assert p["p"] == pytest.approx(0.75) and p["q"] == pytest.approx(-0.1)  # tickets excluded


# --- text handling -----------------------------------------------------------------------------------


def test_normalise_text() -> None:
    assert st.normalise_text("ＳＵＰＥＲ!!!!! Sooooo gut👍🏽❤️") == "super!! soo gut 👍 ❤"
    assert st.normalise_text("It’s «top»") == 'it\'s "top"'
    assert st.normalise_text("Très déçu") == "très déçu"  # accents stay for the character n-grams
    assert st.normalise_text("ﬁne") == "fine"  # NFKC: ligature
    assert st.normalise_text(None) == "" and st.normalise_text("   ") == ""


def test_word_features_mark_negation_scope_within_the_clause() -> None:
    tokens = st.word_features(st.normalise_text("Not very good, but fine"))
    assert {"not", "neg_very", "neg_good", "good", "not very", "very good", "but fine"} <= set(tokens)
    assert "neg_fine" not in tokens and "good but" not in tokens  # the comma ends scope and bigrams
    assert "neg_empfehlen" in st.word_features(st.normalise_text("Kann ich nicht empfehlen"))
    assert "neg_recommend" in st.word_features(st.normalise_text("I don't recommend it"))
    assert {"👍", "!!"} <= set(st.word_features(st.normalise_text("Top👍!!!")))


def test_strip_salutations() -> None:
    assert st.strip_salutations("Dear customer service, the box was crushed. Best regards") == "the box was crushed"
    assert st.strip_salutations("Hallo, Paket kaputt. Viele Grüße, Hans") == "Paket kaputt"
    assert st.strip_salutations("Bonjour, colis abîmé. Cordialement") == "colis abîmé"
    assert st.strip_salutations("Hello kitty mug is cute") == "Hello kitty mug is cute"  # no formula
    assert st.strip_salutations("Thanks!") == "Thanks!"  # nothing but a formula: kept


def test_short_emoji_title_only_and_empty_texts() -> None:
    extra = pd.DataFrame(
        {
            "text_id": ["e1", "e2", "e3", "e4", "e5"],
            "source": "review",
            "customer_id": "C1",
            "product_id": "P1",
            "rating": None,
            "title": [None, None, "Top!", None, "   "],
            "body": ["👍👍", "!!!", None, None, ""],
            "language": None,
            "created_at": pd.Timestamp("2024-01-01"),
        }
    )
    for texts in (pd.concat([synthetic_reviews(300, seed=8), extra], ignore_index=True), extra):
        r = score_texts(texts, SentimentConfig()).reviews.set_index("review_id")
        assert r.loc[["e1", "e2", "e3", "e4", "e5"], "sentiment_score"].between(-1, 1).all()
        assert r.loc["e4", "sentiment_score"] == 0.0 and r.loc["e4", "sentiment_label"] == "neutral"
        assert r.loc["e5", "sentiment_label"] == "neutral"
    # the lexicon alone (no ratings at all) reads emoji and a title-only review
    assert r.loc["e1", "sentiment_label"] == "positive" and r.loc["e3", "sentiment_label"] == "positive"


# --- scale: fast TF-IDF, sampling, distinct texts, batches ----------------------------------------


def _corpus() -> list[str]:
    docs = synthetic_reviews(120, seed=11)["body"].tolist() + tickets(6)["body"].tolist()
    return [st.normalise_text(d) for d in docs + ["a", "", "Très déçu, pas du tout 👍!!", "ok ok ok"]]


def test_char_wb_ngrams_match_scikit_learn() -> None:
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False).build_analyzer()
    for word in ("a", "ab", "abc", "abcd", "déçu", "gorgeous", "👍"):
        assert st.char_wb_ngrams(word, (2, 5)) == analyzer(word)
    doc = "not  very\tgood 👍"
    assert [g for w in doc.split() for g in st.char_wb_ngrams(w, (2, 5))] == analyzer(doc)


@pytest.mark.parametrize("part", ["char", "word"])
def test_ngram_tfidf_matches_scikit_learn(part: str) -> None:
    cfg = SentimentConfig()
    docs = _corpus()
    ours = dict(st.make_vectorizers(cfg))[part].fit(docs, np.ones(len(docs)))
    analyzer = (
        {"analyzer": "char_wb", "ngram_range": cfg.char_ngram_range}
        if part == "char"
        else {"analyzer": lambda d: st.word_features(d, cfg.negation_scope)}
    )
    ref = TfidfVectorizer(**analyzer, sublinear_tf=True, lowercase=False, min_df=cfg.min_df, dtype=np.float32).fit(docs)
    assert ours.vocabulary_ == ref.vocabulary_
    np.testing.assert_allclose(ours.idf_, ref.idf_, rtol=1e-6)
    new = docs[::-1] + ["unseen words only"]
    np.testing.assert_allclose(ours.transform(new).toarray(), ref.transform(new).toarray(), rtol=1e-5, atol=1e-6)


def test_ngram_tfidf_weights_count_repeated_documents_and_cap_features() -> None:
    docs = _corpus()
    weights = np.arange(len(docs)) % 3 + 1
    repeated = [d for d, w in zip(docs, weights, strict=True) for _ in range(w)]
    char = dict(st.make_vectorizers(SentimentConfig()))["char"]
    weighted = char.fit(docs, weights).transform(docs).toarray()
    vocabulary = dict(char.vocabulary_)
    plain = dict(st.make_vectorizers(SentimentConfig()))["char"].fit(repeated, np.ones(len(repeated)))
    assert plain.vocabulary_ == vocabulary
    np.testing.assert_allclose(plain.transform(docs).toarray(), weighted, rtol=1e-6)
    # max_features keeps the most frequent terms
    capped = st.NgramTfidf(lambda w: st.char_wb_ngrams(w, (2, 5)), per_word=True, min_df=2, max_features=50)
    capped.fit(docs, np.ones(len(docs)))
    counts = pd.Series([g for d in docs for w in d.split() for g in st.char_wb_ngrams(w, (2, 5))]).value_counts()
    assert len(capped.vocabulary_) == 50
    assert counts[list(capped.vocabulary_)].min() >= counts.drop(list(capped.vocabulary_)).max()
    assert list(capped.vocabulary_) == sorted(capped.vocabulary_)  # columns in term order


def test_fold_strips_every_combining_mark() -> None:
    import unicodedata

    def reference(text: str) -> str:  # the per-character definition the regexes replace
        text = unicodedata.normalize("NFKD", text.lower().replace("’", "'").translate(lex._GERMAN))
        return "".join(ch for ch in text if not unicodedata.combining(ch))

    samples = [
        "Très déçu",
        "NÃO é bom",
        "schön Straße ÄÖÜ",
        "İstanbul ǅ ﬁ",
        "ok",
        "",
        "a\U0001d165\U0001d167b 👍🏽",
        "".join(chr(c) for c in range(0xC0, 0x250)),
        "".join(chr(c) for c in range(0x1D100, 0x1D250)),
    ]
    for text in samples:
        assert lex.fold(text) == reference(text)


def test_stratified_sample() -> None:
    labels = np.array(["positive"] * 700 + ["negative"] * 250 + ["neutral"] * 49 + ["rare"])
    picked = st.stratified_sample(labels, 100, seed=3)
    assert len(picked) == 100 and len(np.unique(picked)) == 100 and (np.diff(picked) > 0).all()
    shares = pd.Series(labels[picked]).value_counts()
    assert shares["rare"] == 1  # a label too rare for its share still keeps one row
    assert abs(shares["positive"] - 70) <= 2 and abs(shares["negative"] - 25) <= 1 and abs(shares["neutral"] - 5) <= 1
    assert (st.stratified_sample(labels, 100, seed=3) == picked).all()
    assert not (st.stratified_sample(labels, 100, seed=4) == picked).all()
    assert (st.stratified_sample(labels[:80], 100, seed=3) == np.arange(80)).all()


def test_evaluate_matches_string_labels() -> None:
    y = np.array(["positive", "negative", "neutral", "positive", "negative", "positive"], dtype=object)
    pred = np.array(["positive", "neutral", "neutral", "negative", "negative", "positive"], dtype=object)
    score = np.array([0.9, -0.2, 0.0, -0.5, -0.8, 0.7])
    got = st.evaluate(y, score, pred)
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    polar = y != "neutral"  # the AUC is positive vs negative reviews, neutral ones left out
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y[polar] == "positive", score[polar]))
    per_class = f1_score(y, pred, average=None, labels=list(st.LABELS))
    assert [got[f"f1_{lab}"] for lab in st.LABELS] == pytest.approx(list(per_class))
    only_pos = st.evaluate(
        np.array(["positive"] * 2, dtype=object), np.array([0.5, 0.1]), np.array(["positive", "neutral"], dtype=object)
    )
    assert only_pos["macro_f1"] == pytest.approx(2 / 3) and only_pos["roc_auc"] is None


@pytest.mark.slow
def test_bounded_samples_batches_and_repeated_texts() -> None:
    texts = pd.concat([synthetic_reviews(900, seed=12), tickets(8)], ignore_index=True)
    texts.loc[texts.index[:60], "rating"] = None
    copies = texts.iloc[60:120].assign(text_id=lambda f: f["text_id"] + "-copy", rating=None)
    texts = pd.concat([texts, copies], ignore_index=True)  # the same texts again, unrated
    full = score_texts(texts, SentimentConfig())
    cfg = SentimentConfig(max_labelled=400, vocab_sample=500, batch_size=97)
    small = score_texts(texts, cfg)
    m = {x.metric: x for x in small.metrics}
    details = m["macro_f1"].details
    assert details["trained_on"] == 400 and details["vocabulary_from"] == 500
    assert small.fallback is None and m["macro_f1"].value >= 0.7 and m["roc_auc"].value >= 0.85
    assert m["macro_f1"].passed and m["roc_auc"].passed
    f_full = {x.metric: x.value for x in full.metrics}
    assert m["macro_f1"].value >= f_full["macro_f1"] - 0.05
    # deterministic, and batching changes nothing
    again = score_texts(texts, cfg)
    pd.testing.assert_frame_equal(again.reviews, small.reviews)
    one_batch = score_texts(texts, SentimentConfig(max_labelled=400, vocab_sample=500, batch_size=10_000))
    np.testing.assert_allclose(one_batch.reviews["sentiment_score"], small.reviews["sentiment_score"], atol=1e-12)
    # a repeated text not used in training scores as its original does when neither was trained on
    r = small.reviews.set_index("review_id")["sentiment_score"]
    unrated = texts["text_id"].iloc[:60].tolist()  # never in training
    dup = texts.iloc[:60].assign(text_id=lambda f: f["text_id"] + "-dup")
    with_dups = score_texts(pd.concat([texts, dup], ignore_index=True), cfg).reviews.set_index("review_id")
    np.testing.assert_allclose(
        with_dups.loc[[f"{t}-dup" for t in unrated], "sentiment_score"].to_numpy(),
        with_dups.loc[unrated, "sentiment_score"].to_numpy(),
    )
    assert len(r) == len(small.reviews)


def test_lexicon_neutral_band_is_derived_from_its_scale() -> None:
    cfg = lex.LexiconConfig()
    one_word = lex.score_text("good")
    assert cfg.neutral_threshold() == pytest.approx(one_word / 2)
    assert st.label_from_score(
        np.array([lex.score_text("good"), lex.score_text("bad")]), cfg.neutral_threshold()
    ).tolist() == ["positive", "negative"]
    assert lex.LexiconConfig(neutral_band=0.3).neutral_threshold() == 0.3


@pytest.mark.parametrize(
    ("text", "language", "sign"),
    [
        ("Kann ich niemandem empfehlen", "de", -1),
        ("Lohnt sich nicht", "de", -1),
        ("Gefällt mir nicht", "de", -1),
        ("Non mi piace", "it", -1),
        ("Ne fonctionne pas", "fr", -1),
        ("Não gostei", "pt", -1),
        ("No está mal", "es", 1),
        ("Niet slecht", "nl", 1),
        ("Muy contenta", "es", 1),
        ("Leuk!", "nl", 1),
        ("This is extremely frustrating", "en", -1),
        ("Sehr hilfsbereit", "de", 1),
    ],
)
def test_lexicon_everyday_phrases(text: str, language: str, sign: int) -> None:
    assert np.sign(lex.score_text(text, language)) == sign
    assert np.sign(lex.score_text(text)) == sign  # language unknown: the merged lexicon


# --- imbalance and harder text -------------------------------------------------------------------------


@pytest.mark.slow
def test_imbalanced_ratings_keep_the_minority_classes() -> None:
    # ~80% positive, like real shops: balanced class weights keep negatives and neutrals found
    result = score_texts(synthetic_reviews(1000, seed=9, shares=(0.8, 0.1, 0.1)), SentimentConfig())
    r = result.reviews
    y = st.rating_to_label(r["rating"]).to_numpy(dtype=object)
    recall = recall_score(y, r["sentiment_label"].to_numpy(dtype=object), labels=list(st.LABELS), average=None)
    m = {x.metric: x for x in result.metrics}
    print(
        f"imbalanced: macro_f1={m['macro_f1'].value:.3f} recall={dict(zip(st.LABELS, recall.round(2), strict=False))}"
    )
    assert m["macro_f1"].value >= 0.7
    assert recall[0] >= 0.7 and recall[1] >= 0.4  # negative, neutral


def test_hand_written_reviews_degrade_gracefully(hard: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rated, unseen = hard
    truth = unseen.set_index("text_id")["rating"]
    result = score_texts(pd.concat([rated, unseen.assign(rating=None)], ignore_index=True), SentimentConfig())
    m = {x.metric: x for x in result.metrics}
    held_out, recall = unseen_metrics(result, truth)
    print(
        f"hand-written: cross-fitted macro_f1={m['macro_f1'].value:.3f} auc={m['roc_auc'].value:.3f} "
        f"(lexicon {m['macro_f1'].baseline_value:.3f}/{m['roc_auc'].baseline_value:.3f}); unseen "
        f"macro_f1={held_out['macro_f1']:.3f} auc={held_out['roc_auc']:.3f} recall={recall.round(2)}"
    )
    # Far from the generator's perfect scores, far above chance (macro-F1 1/3, AUC 0.5).
    assert m["macro_f1"].value >= 0.6 and m["roc_auc"].value >= 0.85
    assert held_out["macro_f1"] >= 0.5 and held_out["roc_auc"] >= 0.7
    assert recall[0] >= 0.6 and recall[1] >= 0.5  # 55% five stars did not swallow the rest
    # the model earned its place against the lexicon on the same held-out rated reviews
    assert result.fallback is None and m["macro_f1"].passed and m["roc_auc"].passed


def test_hand_written_reviews_with_few_ratings(hard: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rated, unseen = hard
    truth = unseen.set_index("text_id")["rating"]
    few = rated.sample(n=60, random_state=0)
    result = score_texts(pd.concat([few, unseen.assign(rating=None)], ignore_index=True), SentimentConfig())
    held_out, recall = unseen_metrics(result, truth)
    print(
        f"hand-written, 60 ratings: fallback={result.fallback} unseen macro_f1={held_out['macro_f1']:.3f} "
        f"auc={held_out['roc_auc']:.3f}"
    )
    assert result.fallback == "lexicon"
    assert held_out["macro_f1"] >= 0.5 and held_out["roc_auc"] >= 0.7


def test_lexicon_is_kept_when_the_trained_model_does_not_beat_it(hard: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rated, _ = hard
    # A model that can learn nothing (all but no capacity, no lexicon feature) loses to the
    # lexicon on the held-out rated reviews: the stage publishes the lexicon and says why.
    cfg = SentimentConfig(ridge_alpha=1e9, lexicon_feature_weight=0.0)
    result = score_texts(rated, cfg)
    m = {x.metric: x for x in result.metrics}
    assert result.fallback == "lexicon" and result.model_version == lex.LEXICON_VERSION
    assert "beat the trained model" in m["fallback"].details["reason"]
    challenger = m["macro_f1"].details["challenger"]
    assert challenger["model_version"] == cfg.model_version and challenger["macro_f1"] < m["macro_f1"].value
    assert m["macro_f1"].value == m["macro_f1"].baseline_value and m["macro_f1"].passed is None
    assert not st._lexicon_wins({"macro_f1": 0.8, "roc_auc": 0.9}, {"macro_f1": 0.7, "roc_auc": 0.95})
    assert not st._lexicon_wins({"macro_f1": 0.6, "roc_auc": 0.9}, {"macro_f1": 0.7, "roc_auc": 0.8})
    assert st._lexicon_wins({"macro_f1": 0.6, "roc_auc": 0.8}, {"macro_f1": 0.7, "roc_auc": 0.8})


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


@pytest.mark.slow
def test_run_writes_tables_and_model_runs(warehouse: Path) -> None:
    _write_texts(warehouse, pd.concat([synthetic_reviews(300, seed=5), tickets(5)], ignore_index=True))
    summary = st.run(date(2024, 1, 2))
    st.run(date(2024, 1, 2))  # idempotent
    assert summary["reviews"] == 300 and summary["tickets"] == 5 and summary["fallback"] is None
    reviews = _read(warehouse, "select * from model_outputs.review_sentiment")
    tickets_out = _read(warehouse, "select * from model_outputs.ticket_sentiment")
    runs = _read(warehouse, "select * from model_outputs.model_runs").set_index("metric")
    assert len(reviews) == 300 and len(tickets_out) == 5
    assert {
        "review_id",
        "sentiment_score",
        "sentiment_label",
        "model_version",
        "rating",
        "rating_conflict",
        "as_of_date",
    } <= set(reviews.columns)
    assert {"ticket_id", "sentiment_score", "sentiment_label", "model_version", "as_of_date"} <= set(
        tickets_out.columns
    )
    assert (reviews["as_of_date"] == pd.Timestamp("2024-01-02")).all()
    assert (runs["model"] == "sentiment").all() and (runs["model_version"] == st.SentimentConfig().model_version).all()
    assert runs.loc["macro_f1", "value"] > runs.loc["macro_f1", "baseline_value"]
    assert json.loads(runs.loc["fallback", "details"])["fallback"] == "none"


def test_run_reports_lexicon_fallback(warehouse: Path) -> None:
    _write_texts(warehouse, synthetic_reviews(50, seed=6))
    summary = st.run(date(2024, 1, 3))
    assert summary["fallback"] == "lexicon"
    runs = _read(warehouse, "select * from model_outputs.model_runs").set_index("metric")
    assert (runs["model_version"] == lex.LEXICON_VERSION).all()
    assert runs.loc["fallback", "value"] == 1.0
    assert json.loads(runs.loc["fallback", "details"])["fallback"] == "lexicon"


def test_run_skips_missing_or_empty(warehouse: Path) -> None:
    with pytest.raises(NothingToDo, match="marts.fct_texts is missing"):
        st.run(date(2024, 1, 1))
    _write_texts(warehouse, synthetic_reviews(3, seed=0).iloc[:0])
    with pytest.raises(NothingToDo, match="marts.fct_texts is empty"):
        st.run(date(2024, 1, 1))

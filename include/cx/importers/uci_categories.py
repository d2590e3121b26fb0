"""Coarse product categories for the UCI importer, from the words of a description.

UCI has no categories; the importer's module docstring (cx.importers.uci) describes the
rule: the last word naming an item type decides, plurals match their singular.
"""

from __future__ import annotations

__all__ = ["CATEGORY_KEYWORDS", "DEFAULT_CATEGORY", "keyword_rows"]

# Item-type words per category (singular; plurals are derived). Kept small on
# purpose: a coarse grouping for forecasts per category, not a taxonomy.
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    # Not LIGHT alone: it is mostly a colour ('BOWL LIGHT BLUE'); T-LIGHT and LIGHTS are items.
    "candles_lighting": (
        "CANDLE",
        "CANDLEHOLDER",
        "CANDLESTICK",
        "CANDLEPOT",
        "TEALIGHT",
        "T-LIGHT",
        "LIGHTS",
        "LAMP",
        "LAMPSHADE",
        "LANTERN",
        "NIGHTLIGHT",
        "INCENSE",
        "BURNER",
        "MATCH",
    ),
    "kitchen_dining": (
        "MUG",
        "CUP",
        "TEACUP",
        "SAUCER",
        "BOWL",
        "PLATE",
        "PLATTER",
        "DISH",
        "JUG",
        "BEAKER",
        "TEAPOT",
        "CUTLERY",
        "SPOON",
        "FORK",
        "CASE",
        "CAKESTAND",
        "NAPKIN",
        "PLACEMAT",
        "COASTER",
        "TRAY",
        "DOILY",
        "DOILEY",
        "STRAW",
        "JAR",
        "BOTTLE",
        "GLASS",
        "LUNCHBOX",
        "CUTTER",
        "PAN",
        "MOULD",
    ),
    "home_decor": (
        "SIGN",
        "CLOCK",
        "FRAME",
        "PHOTOFRAME",
        "MIRROR",
        "HOOK",
        "HANGER",
        "GARLAND",
        "BUNTING",
        "DOORSTOP",
        "DOORMAT",
        "MOBILE",
        "VASE",
        "ORNAMENT",
        "CABINET",
        "SHELF",
        "DRAWER",
        "CHAIR",
        "TABLE",
        "KNOB",
        "RACK",
        "MAGNET",
        "THERMOMETER",
        "CHIME",
        "WALL",
        "ART",
        "TILE",
    ),
    "seasonal": ("DECORATION", "BAUBLE", "TREE", "WREATH", "STOCKING", "ADVENT", "CHRISTMAS", "EASTER"),
    "bags_accessories": (
        "BAG",
        "HANDBAG",
        "WASHBAG",
        "PURSE",
        "BACKPACK",
        "RUCKSACK",
        "SHOPPER",
        "TOTE",
        "UMBRELLA",
        "PARASOL",
        "WALLET",
    ),
    "jewellery": (
        "NECKLACE",
        "NECKLAC",
        "BRACELET",
        "EARRING",
        "RING",
        "CHARM",
        "BANGLE",
        "PENDANT",
        "BEAD",
        "BROOCH",
        "HAIRSLIDE",
        "HAIRCLIP",
        "KEYRING",
        "JEWELLERY",
    ),
    "stationery_party": (
        "CARD",
        "WRAP",
        "NOTEBOOK",
        "STICKER",
        "TISSUE",
        "TAPE",
        "PEN",
        "PENCIL",
        "SKETCHBOOK",
        "JOURNAL",
        "BOOK",
        "RULER",
        "ERASER",
        "CALENDAR",
        "ENVELOPE",
        "TAG",
        "RIBBON",
        "BALLOON",
        "CHALKBOARD",
        "LETTER",
        "PAPER",
        "ALBUM",
        "STAMP",
        "CRAYON",
    ),
    "toys_games": (
        "TOY",
        "GAME",
        "DOLL",
        "JIGSAW",
        "PUZZLE",
        "BALL",
        "HELICOPTER",
        "MARBLE",
        "DOMINO",
        "SKITTLE",
        "TEDDY",
    ),
    "storage": ("BOX", "BASKET", "TIN", "CONTAINER", "BUCKET", "ORGANISER", "CRATE", "HAMPER", "CHEST", "BIN", "TIDY"),
    "textiles": (
        "CUSHION",
        "APRON",
        "TOWEL",
        "CURTAIN",
        "BLANKET",
        "FLANNEL",
        "COSY",
        "GLOVE",
        "SCARF",
        "WARMER",
        "SLIPPER",
        "HOTTIE",
        "QUILT",
        "THROW",
    ),
    "garden": ("PLANT", "PLANTER", "POT", "GNOME", "WINDMILL", "BIRDHOUSE", "FEEDER", "SEED", "WATERING"),
    "service": (
        "POSTAGE",
        "CARRIAGE",
        "MANUAL",
        "DISCOUNT",
        "FEE",
        "CHARGE",
        "COMMISSION",
        "SAMPLE",
        "DEBT",
        "ADJUSTMENT",
    ),
}
DEFAULT_CATEGORY = "other"


def _word_forms(word: str) -> tuple[str, ...]:
    forms = [word, word + "S", word + "ES"]
    if word.endswith("Y") and word[-2:-1] not in "AEIOU":
        forms.append(word[:-1] + "IES")
    return tuple(forms)


def keyword_rows() -> list[tuple[str, str]]:
    """(word, category) pairs including plural forms; the first category listed wins a clash."""
    table: dict[str, str] = {}
    for category, words in CATEGORY_KEYWORDS.items():
        for word in words:
            for form in _word_forms(word):
                table.setdefault(form, category)
    return sorted(table.items())

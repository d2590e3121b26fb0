"""Personal data out of free text before the page shows it.

Reviews and tickets are free text and may carry an e-mail address, a phone number
or a name ("my name is Jane Doe", "Regards, Jane"). The page shows them to analysts
only with those replaced. Names are found by their cues (greetings, sign-offs,
introductions, titles) since the page never reads the restricted customer record
to look them up; what is left is cut to a short excerpt.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# Phone, card and account numbers: 7+ digits, possibly separated by spaces, dots, dashes or brackets.
# A run glued to letters (an order id like O20241120-0000124) is an id, not a number to hide.
_DIGITS = re.compile(r"(?<![A-Za-z0-9_-])\+?\(?\d(?:[\s().-]{0,2}\d){6,}")
_NAME = r"[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+){0,2}"
_NAME_CUES = re.compile(
    r"(?P<cue>\b(?i:my name is|my name's|i am|i'm|this is|call me|ich bin|je suis|je m'appelle|"
    r"(?:kind |best |warm )?regards,?|thanks,|thank you,|cheers,|sincerely,|greetings,|"
    r"mr\.?|mrs\.?|ms\.?|miss|dr\.?|herr|frau|mme\.?|m\.)\s+)(?P<name>" + _NAME + ")",
)
_ADDRESS = re.compile(
    r"\b\d{1,4}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+(?:Street|St|Road|Rd|Avenue|Ave|Lane|Way|"
    r"Drive|Close|Straße|Strasse|Weg|Rue)\b"
)
MAX_CHARS = 280


def scrub(text: str | None, limit: int = MAX_CHARS) -> str:
    """``text`` with e-mails, URLs, numbers, addresses and cued names replaced, at most ``limit`` chars."""
    if not text:
        return ""
    out = _EMAIL.sub("[email]", str(text))
    out = _URL.sub("[link]", out)
    out = _ADDRESS.sub("[address]", out)
    out = _DIGITS.sub("[number]", out)
    out = _NAME_CUES.sub(lambda m: m.group("cue") + "[name]", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"

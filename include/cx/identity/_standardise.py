"""Standardised attributes: the same person written two ways compares equal.

Every function here is idempotent (standardising twice changes nothing), so records
resolved yesterday and records arriving today can be standardised independently.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime

import pandas as pd

from cx.identity._config import ID_COLUMNS, INPUT_COLUMNS, RECORD_KEY, IdentityConfig

_NOT_LETTERS = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})
# A national and an international writing of one number share their last ten digits
# (07700 900123 / +44 7700 900123; (212) 555-1234 / +1 212 555 1234).
_PHONE_DIGITS = 10
_PHONE_MIN_DIGITS = 7
_COMPACT_DATE = re.compile(r"^\d{8}$")


class IdentityInputError(ValueError):
    """The records cannot be resolved as given: a column missing, a record twice."""


def fold_name(value: object) -> str | None:
    """Lower case, accents and punctuation dropped, hyphens as spaces, one space between words."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("-", " ").replace("'", "").replace("\u2019", "")
    text = _SPACES.sub(" ", _NOT_LETTERS.sub(" ", text)).strip()
    return text or None


def normalise_email(value: object) -> str | None:
    """Lower case, trimmed, ``+tag`` dropped; Gmail's dots (ignored by Gmail) dropped. Not an e-mail: null."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not _EMAIL.match(text):
        return None
    user, domain = text.rsplit("@", 1)
    user = user.split("+", 1)[0]
    if domain in _GMAIL:
        user, domain = user.replace(".", ""), "gmail.com"
    return f"{user}@{domain}" if user else None


def normalise_phone(value: object) -> str | None:
    """Digits only, the last ten of them; too short or one repeated digit (a placeholder): null."""
    if isinstance(value, int):  # a column read as numbers
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = "".join(ch for ch in value if ch.isdigit())[-_PHONE_DIGITS:]
    if len(digits) < _PHONE_MIN_DIGITS or len(set(digits)) == 1:
        return None
    return digits


def normalise_postcode(value: object) -> str | None:
    """Upper case, letters and digits only."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value.upper() if ch.isalnum())
    return text or None


def parse_birth_date(value: object) -> date | None:
    """A date, an ISO ``YYYY-MM-DD`` string or a compact ``YYYYMMDD`` one; anything else: null.

    Other day/month orders are the ingest layer's to resolve (``CX_DATE_ORDER``): guessing
    here would turn 03/04 into two different people.
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if _COMPACT_DATE.match(text):
            return datetime.strptime(text, "%Y%m%d").date()
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


_BY_KIND: dict[str, Callable[[object], object]] = {
    "name": fold_name,
    "email": normalise_email,
    "phone": normalise_phone,
    "postcode": normalise_postcode,
    "date": parse_birth_date,
    "text": fold_name,
    "identifier": normalise_postcode,  # an id typed by hand: letters and digits, one case
}


def _mapped(series: pd.Series, function: Callable[[object], object]) -> pd.Series:
    """``function`` over the distinct values only (names and cities repeat a lot)."""
    values = series.astype(object).where(series.notna(), None)
    lookup = {value: function(value) for value in pd.unique(values) if value is not None}
    return values.map(lambda v: None if v is None else lookup[v]).astype(object)


def standardise(records: pd.DataFrame, cfg: IdentityConfig | None = None) -> pd.DataFrame:
    """The records with their identifying attributes standardised and a ``record_key``.

    Columns beyond the configuration's pass through unchanged (a truth label, say).
    Raises :class:`IdentityInputError` naming missing columns; rows with the same
    ``source`` and ``source_record_id`` are an error too (one record, one person).
    """
    cfg = cfg or IdentityConfig()
    frame = as_frame(records)
    missing = [c for c in cfg.columns if c not in frame.columns]
    if missing:
        raise IdentityInputError(f"identity records lack columns: {', '.join(missing)}")
    out = frame.copy()
    for column in ID_COLUMNS:
        out[column] = out[column].astype(str).str.strip()
    out["customer_id"] = _mapped(out["customer_id"], _crm_id)
    for attribute in cfg.attributes:
        out[attribute.column] = _mapped(out[attribute.column], _BY_KIND[attribute.kind])
    out[RECORD_KEY] = out["source"] + ":" + out["source_record_id"]
    duplicated = out[RECORD_KEY].duplicated()
    if duplicated.any():
        raise IdentityInputError(f"{int(duplicated.sum())} identity records repeat a (source, source_record_id) pair")
    first = [RECORD_KEY, *INPUT_COLUMNS]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


def _crm_id(value: object) -> str | None:
    """A CRM id: trimmed, case kept (ids are case-sensitive), empty: null."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def as_frame(records: object) -> pd.DataFrame:
    """A pandas frame from a frame or a DuckDB relation."""
    if isinstance(records, pd.DataFrame):
        return records
    to_df = getattr(records, "df", None)
    if callable(to_df):
        return to_df()
    raise IdentityInputError(
        f"identity records must be a pandas frame or a DuckDB relation, not {type(records).__name__}"
    )

"""The input frame's columns, the attributes compared, and the stage's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from cx.config import Settings

MODEL = "identity"
_SETTINGS = Settings.model_fields

# The frame every caller hands in (dbt's ``int_identity_records``), in this order.
SOURCES: tuple[str, ...] = ("customers", "orders", "reviews", "support_tickets", "web_events")
ID_COLUMNS: tuple[str, ...] = ("source", "source_record_id")
INPUT_COLUMNS: tuple[str, ...] = (
    *ID_COLUMNS,
    "customer_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "postcode",
    "city",
)
# ``source:source_record_id``: one id per record across sources (Splink's unique id).
RECORD_KEY = "record_key"

AttributeKind = Literal["name", "date", "email", "phone", "postcode", "text", "identifier"]


@dataclass(frozen=True)
class Attribute:
    """One column the probabilistic model compares, and how.

    ``name``: accents/case folded, Jaro-Winkler and edit-distance levels with
    term-frequency adjustment (a match on "smith" is weaker evidence than on "okonkwo").
    ``date``: exact, one typo, within a month, a year. ``email``/``phone``: exact, the
    e-mail's user name, one or two typos. ``postcode``: exact (term frequency) or one typo.
    ``text``: free text such as an address line. ``identifier``: an id typed by hand.
    """

    column: str
    kind: AttributeKind
    term_frequency: bool = False
    # A name often sits in the other name's field (surname typed as first name): the
    # comparison gets "equal / similar to the other record's <swapped_with>" levels.
    swapped_with: str | None = None


# The contract's identifying attributes (CRM id is deterministic only: two CRM ids that
# differ say nothing, the CRM holds one person twice).
CONTRACT_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("first_name", "name", term_frequency=True, swapped_with="last_name"),
    Attribute("last_name", "name", term_frequency=True, swapped_with="first_name"),
    Attribute("birth_date", "date"),
    Attribute("email", "email"),
    Attribute("phone", "phone"),
    Attribute("postcode", "postcode", term_frequency=True),
    Attribute("city", "name", term_frequency=True),
)


@dataclass(frozen=True)
class IdentityConfig:
    """Settings of the identity stage (defaults are the production values; docs/identity.md)."""

    # A pair links when Splink's match probability is at least this (docs/identity.md: tuning).
    threshold: float = _SETTINGS["identity_threshold"].default
    seed: int = _SETTINGS["seed"].default
    attributes: tuple[Attribute, ...] = CONTRACT_ATTRIBUTES
    # Equal non-null values always link, whatever the names say.
    deterministic_keys: tuple[str, ...] = ("customer_id", "email", "phone")
    # "dedupe_only": any two records may be the same person (the pipeline: sources in one
    # frame, the CRM holding people twice). "link_only": only records of different sources
    # (two files each free of duplicates, e.g. FEBRL4).
    link_type: Literal["dedupe_only", "link_only"] = "dedupe_only"
    # Candidate pairs: records agreeing on every column of at least one rule. A column
    # pair written "a>b" means a on one side equals b on the other (swapped names).
    blocking_rules: tuple[tuple[str, ...], ...] = (
        ("first_name", "last_name"),
        ("first_name>last_name", "last_name>first_name"),
        ("last_name", "birth_date"),
        ("first_name", "birth_date"),
        ("birth_date", "postcode"),
        ("last_name", "postcode"),
        ("first_name", "postcode"),
    )  # no e-mail or phone rule: records sharing one are linked deterministically anyway
    # EM sessions: each trains the attributes outside its rule. Rules over columns that
    # are all null in the data are left out.
    em_blocking_rules: tuple[tuple[str, ...], ...] = (
        ("birth_date",),
        ("first_name", "last_name"),
        ("postcode", "city"),
    )
    # Prior: recall of "same first name, last name and birth date" among true pairs.
    prior_rules: tuple[tuple[str, ...], ...] = (("first_name", "last_name", "birth_date"),)
    prior_recall: float = 0.6
    # Pairs sampled to estimate u (non-match agreement rates); more is steadier, slower.
    u_max_pairs: float = 2e6
    em_max_iterations: int = 25
    # A session whose EM collapses is rerun with these many iterations (_splink._em_session).
    em_retry_iterations: tuple[int, ...] = (8, 3)
    # Trained m below this is raised to it: "not seen among the matches trained on" is
    # strong evidence against, not proof (docs/identity.md).
    min_m_probability: float = 1e-3
    # DuckDB threads for Splink's in-memory database (None: DuckDB's default).
    threads: int | None = None
    model_version: str = "splink5-v1"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be within (0, 1), got {self.threshold}")
        if not 0.0 < self.prior_recall <= 1.0:
            raise ValueError(f"prior_recall must be within (0, 1], got {self.prior_recall}")
        columns = {a.column for a in self.attributes}
        for rule in (*self.blocking_rules, *self.em_blocking_rules, *self.prior_rules):
            unknown = {c for item in rule for c in item.split(">")} - columns
            if unknown:
                raise ValueError(f"rule {rule} names columns that are not attributes: {sorted(unknown)}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IdentityConfig:
        """The pipeline's configuration: ``CX_IDENTITY_THRESHOLD`` and ``CX_SEED``, then ``overrides``."""
        return cls(**{"threshold": settings.identity_threshold, "seed": settings.seed, **overrides})

    @property
    def columns(self) -> tuple[str, ...]:
        """The frame's columns this configuration reads."""
        extra = tuple(a.column for a in self.attributes if a.column not in INPUT_COLUMNS)
        return (*INPUT_COLUMNS, *extra)


@dataclass(frozen=True)
class IdentityModel:
    """A trained Splink model: its settings (comparisons, m and u per level; no data
    values) as a JSON-able dict, the attributes it compares, and its version."""

    settings: dict = field(repr=False)
    attributes: tuple[str, ...] = ()
    model_version: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"settings": self.settings, "attributes": list(self.attributes), "model_version": self.model_version}
        )

    @classmethod
    def from_json(cls, text: str) -> IdentityModel:
        data = json.loads(text)
        return cls(settings=data["settings"], attributes=tuple(data["attributes"]), model_version=data["model_version"])

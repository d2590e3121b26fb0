"""The landing-zone contract (CONTRACT.md section 1) as data.

The ingest step and the tests read the column lists from here; the dbt sources
(`dbt_project/models/staging/_sources.yml`) document the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceSpec:
    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...]


LANDING_SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "customers",
            (
                "customer_id",
                "email",
                "phone",
                "first_name",
                "last_name",
                "gender",
                "birth_date",
                "address",
                "postcode",
                "city",
                "region",
                "country",
                "signup_date",
                "marketing_consent",
                "consent_date",
                "updated_at",
            ),
            ("customer_id", "updated_at"),
        ),
        SourceSpec(
            "products",
            ("product_id", "name", "category", "brand", "price", "description", "updated_at"),
            ("product_id", "updated_at"),
        ),
        SourceSpec(
            "orders",
            # customer_id is empty for a guest checkout: the order still counts.
            ("order_id", "customer_id", "email", "ordered_at", "status", "channel", "currency"),
            ("order_id", "ordered_at"),
        ),
        SourceSpec(
            "order_items",
            ("order_id", "product_id", "quantity", "unit_price"),
            ("order_id", "product_id", "quantity", "unit_price"),
        ),
        SourceSpec(
            "web_events",
            (
                "event_id",
                "occurred_at",
                "event_type",
                "session_id",
                "customer_id",
                "anonymous_id",
                "product_id",
                "search_query",
                "device",
            ),
            ("event_id", "occurred_at", "event_type"),
        ),
        SourceSpec(
            "reviews",
            (
                "review_id",
                "created_at",
                "customer_id",
                "email",
                "reviewer_name",
                "product_id",
                "order_id",
                "rating",
                "title",
                "body",
                "language",
            ),
            ("review_id", "created_at"),
        ),
        SourceSpec(
            "support_tickets",
            (
                "ticket_id",
                "created_at",
                "customer_id",
                "email",
                "phone",
                "requester_name",
                "channel",
                "subject",
                "body",
                "status",
            ),
            ("ticket_id", "created_at"),
        ),
    )
}

# Contract columns that identify a person (CONTRACT.md sections 1 and 3): identity
# resolution reads them in the restricted schemas; no published table, mart, check
# frame or log holds them (dbt_project/tests/assert_no_personal_data_in_marts.sql
# repeats this list, tests/test_contract_columns.py ties the two).
IDENTIFYING_COLUMNS: tuple[str, ...] = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "address",
    "postcode",
    "reviewer_name",
    "requester_name",
)

# Delimited text of any extension below is read the same way (the delimiter is
# detected from the header); text formats may also arrive gzip-compressed (".gz").
FILE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
COMPRESSED_SUFFIX = ".gz"


def file_format(name: str) -> tuple[str | None, bool]:
    """(format, gzip-compressed) of a landing file name; format None when not in the contract."""
    lower = name.lower()
    compressed = lower.endswith(COMPRESSED_SUFFIX)
    if compressed:
        lower = lower[: -len(COMPRESSED_SUFFIX)]
    dot = lower.rfind(".")
    fmt = FILE_FORMATS.get(lower[dot:]) if dot > 0 else None
    if compressed and fmt == "parquet":
        return None, True  # Parquet compresses inside the file
    return fmt, compressed

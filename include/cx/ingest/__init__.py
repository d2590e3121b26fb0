"""Landing zone -> ``landing`` schema: every delivered row, verbatim, with lineage.

DuckDB's own readers parse each file (CSV, JSONL, Parquet); this package decides
what is read (cx.ingest.discover: only regular files inside the landing root, the
rest listed with a reason), how text is decoded (cx.ingest.text), how each format
maps onto the contract (cx.ingest.csv_reader, jsonl_reader, parquet_reader:
columns matched case-insensitively, trimmed; absent optional columns NULL; extra
columns kept in ``_raw``) and records where each row came from (``_file``,
``_line``). Records that cannot be parsed go to ``landing.parse_rejects`` with a
reason code and a detail; a file that cannot be read at all is one row of
``landing.deliveries`` with status ``unreadable`` (cx.ingest.rejects), so landing
rows = parsed + rejected, and every file is accounted for.

Partitions are keyed by the extraction day (the date folder) and replaced as a
whole, so re-ingesting a day, or a re-delivered day, is idempotent (cx.ingest.load).
"""

from cx.ingest.discover import DeliveredFile, IgnoredPath, day_range, discover, landed_days, survey
from cx.ingest.load import LANDING_ZONE, LINEAGE_COLUMNS, SCHEMA, ensure_schema, ingest_range

__all__ = [
    "LANDING_ZONE",
    "LINEAGE_COLUMNS",
    "SCHEMA",
    "DeliveredFile",
    "IgnoredPath",
    "day_range",
    "discover",
    "ensure_schema",
    "ingest_range",
    "landed_days",
    "survey",
]

"""Reason codes of the ingest step: why a record was rejected, a file unread, an entry ignored.

Each is a fixed code (quarantine counts group by it, the critical check
``quarantine.reason_known`` accepts exactly these); what varies (the column, the
error text) goes to a separate ``detail`` field, never into the code.
"""

from __future__ import annotations

from dataclasses import dataclass

# Record-level rejects are stored as "unparseable: <code>" (the quarantine's
# established prefix for rows that never parsed).
UNPARSEABLE_PREFIX = "unparseable: "


class RecordReason:
    TOO_MANY_COLUMNS = "too_many_columns"
    MISSING_COLUMNS = "missing_columns"
    UNTERMINATED_QUOTE = "unterminated_quote"  # a quote opened and never closed
    MALFORMED_QUOTE = "malformed_quote"  # text after a closing quote, a quote inside an unquoted field
    STRAY_LINE_BREAK = "stray_line_break"  # a carriage return alone inside an unquoted field
    NOT_A_JSON_OBJECT = "not_a_json_object"
    NESTED_VALUE = "nested_value"  # a struct, list or object where the contract wants one value


# File-level status in landing.deliveries.
STATUS_LOADED = "loaded"
STATUS_UNREADABLE = "unreadable"
STATUS_IGNORED = "ignored"

UNREADABLE_FILE = "unreadable_file"


class IgnoreReason:
    OUTSIDE_CONTRACT = "outside_contract"  # not a contract source folder
    MISNAMED_DAY_FOLDER = "misnamed_day_folder"
    OUTSIDE_DAY_FOLDER = "outside_day_folder"  # a file where a day folder belongs
    NESTED_FOLDER = "nested_folder"
    HIDDEN_FILE = "hidden_file"
    UNSUPPORTED_FORMAT = "unsupported_format"
    OUTSIDE_LANDING_ROOT = "outside_landing_root"  # a symbolic link out of the zone
    NOT_A_REGULAR_FILE = "not_a_regular_file"


class UnreadableFile(Exception):
    """The file cannot be read as its format at all. ``detail`` says why (never the
    file's content); ``rows`` is its row count when it can still be known."""

    def __init__(self, detail: str, rows: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rows = rows


def printable(message: str, limit: int = 300) -> str:
    """A reader's error message fit for a detail field: a library may quote bytes of
    the file in it, which are masked (only printable ASCII is kept)."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in message[:limit])


@dataclass
class FileResult:
    """What reading one file gave: rows stored, rows rejected, how it was decoded."""

    parsed: int = 0
    rejected: int = 0
    encoding: str | None = None
    delimiter: str | None = None

"""SQL helpers shared by the readers: quoting, the file's columns onto the contract's."""

from __future__ import annotations

from collections.abc import Callable

from cx.contract import SourceSpec


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique and non-empty (a repeated name gets a _2, _3 suffix)."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        base = name.strip() or f"column{i}"
        key = base.lower()
        seen[key] = seen.get(key, 0) + 1
        out.append(base if seen[key] == 1 else f"{base}_{seen[key]}")
    return out


def column_map(file_columns: list[str], spec: SourceSpec) -> dict[str, str | None]:
    """Contract column -> the file's column (matched trimmed, case-insensitively; the
    first one when two match)."""
    by_key: dict[str, str] = {}
    for c in file_columns:
        by_key.setdefault(c.strip().lower(), c)
    return {c: by_key.get(c) for c in spec.columns}


def projection(mapping: dict[str, str | None], expr_for: Callable[[str], str]) -> str:
    return ", ".join(
        f"{expr_for(src)} as {q(col)}" if src is not None else f"null::varchar as {q(col)}"
        for col, src in mapping.items()
    )

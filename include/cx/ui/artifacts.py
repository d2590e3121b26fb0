"""Files the page links to: Data Docs, forecast charts and dbt docs.

Everything served from disk goes through :func:`safe_file`, which only ever returns
a regular file inside the given root: no absolute paths, no ``..``, no symlink that
leads out of the root, no hidden files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from cx.config import Settings

# dbt's own target folder also holds compiled SQL and run results: from there only
# the three files the dbt docs site needs are served.
DBT_TARGET_DOCS_FILES = frozenset({"index.html", "manifest.json", "catalog.json"})

_CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.png$")


def safe_file(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it is a regular file inside ``root``; otherwise None."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or any(p in ("..", ".") or p.startswith(".") for p in parts):
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / Path(*parts)).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, or an odd name
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def data_docs_days(settings: Settings) -> list[date]:
    """Days with a Data Docs site (``data_docs/<day>/index.html``), newest first."""
    root = settings.data_docs_dir
    if not root.is_dir():
        return []
    days = [d for p in root.iterdir() if (d := _day(p.name)) and (p / "index.html").is_file()]
    return sorted(days, reverse=True)


def data_docs_for(settings: Settings, as_of: date) -> str | None:
    """Path (relative to the Data Docs root) of the day's site index, if it was built."""
    return f"{as_of.isoformat()}/index.html" if as_of in data_docs_days(settings) else None


def chart_roots(settings: Settings) -> list[Path]:
    """Folders that hold ``<day>/<series>.png`` forecast charts, preferred first."""
    roots = [settings.artifacts_dir / "forecast_charts", settings.charts_dir]
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


@dataclass(frozen=True)
class Charts:
    day: date | None  # the forecast run the charts come from (on or before the as-of day)
    files: tuple[str, ...]  # "<day>/<name>.png", relative to the chart root
    root: Path | None


def forecast_charts(settings: Settings, as_of: date) -> Charts:
    """The newest day on or before ``as_of`` with chart PNGs."""
    for root in chart_roots(settings):
        if not root.is_dir():
            continue
        days = sorted((d for p in root.iterdir() if (d := _day(p.name)) and d <= as_of and p.is_dir()), reverse=True)
        for day in days:
            names = sorted(
                p.name for p in (root / day.isoformat()).iterdir() if _CHART_NAME.match(p.name) and p.is_file()
            )
            if names:
                return Charts(day, tuple(f"{day.isoformat()}/{n}" for n in names), root)
    return Charts(None, (), None)


def chart_file(settings: Settings, day: str, name: str) -> Path | None:
    if _day(day) is None or not _CHART_NAME.match(name):
        return None
    for root in chart_roots(settings):
        found = safe_file(root, f"{day}/{name}")
        if found:
            return found
    return None


def chart_title(relative: str) -> str:
    """``2024-11-26/total_revenue.png`` -> ``total revenue``."""
    return PurePosixPath(relative).stem.replace("_", " ")


def dbt_docs_root(settings: Settings) -> tuple[Path, frozenset[str] | None] | None:
    """Where a generated dbt docs site lives, and which files may be served from it.

    ``$CX_ARTIFACTS_DIR/dbt_docs`` (a copy made for users) is served whole; dbt's
    ``target`` folder only for the docs files (None means any file).
    """
    published = settings.artifacts_dir / "dbt_docs"
    if (published / "index.html").is_file():
        return published, None
    if (settings.dbt_docs_dir / "index.html").is_file():
        return settings.dbt_docs_dir, DBT_TARGET_DOCS_FILES
    return None


def dbt_docs_file(settings: Settings, relative: str) -> Path | None:
    found = dbt_docs_root(settings)
    if found is None:
        return None
    root, allowed = found
    if allowed is not None and relative not in allowed:
        return None
    return safe_file(root, relative)

"""The Data Docs site: one GX site per run's stage, a page per day, a home page."""

from __future__ import annotations

import filecmp
import html
import json
import logging
import os
from datetime import date
from pathlib import Path

from cx.config import Settings
from cx.quality.project import STAGES

log = logging.getLogger(__name__)


def docs_dir(settings: Settings, as_of: date, stage: str) -> Path:
    """Where the Data Docs of one run's stage live (``<day>/index.html`` links the stages)."""
    return settings.data_docs_dir / as_of.isoformat() / stage


def share_static_files(root: Path, site: Path) -> int:
    """Hard-link the GX site's ``static/`` files (4 MB of fonts and images, the same
    for every site) to one copy under ``root/.static``, so a year of daily sites does
    not store them 730 times. Returns the bytes saved; any server sees plain files."""
    saved = 0
    shared_root = root / ".static"
    for path in sorted((site / "static").rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        shared = shared_root / path.relative_to(site / "static")
        try:
            if not shared.exists():
                shared.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, shared)
                continue
            if shared.stat().st_ino == path.stat().st_ino or not filecmp.cmp(path, shared, shallow=False):
                continue
            temp = path.with_name(f".{path.name}.link")
            temp.unlink(missing_ok=True)
            os.link(shared, temp)
            temp.replace(path)
            saved += shared.stat().st_size
        except OSError as error:  # e.g. a file system without hard links: keep the copies
            log.info("Data Docs static files not shared: %s", error)
            return saved
    return saved


def _stage_cell(day: Path, stage: str, prefix: str) -> str:
    summary_path = day / stage / "summary.json"
    if not summary_path.exists():
        return "<td>not run</td>"
    s = json.loads(summary_path.read_text(encoding="utf-8"))
    crit, warn = s["by_severity"]["critical"]["failed"], s["by_severity"]["warning"]["failed"]
    status = "FAILED" if crit else ("warnings" if warn else "passed")
    return (
        f'<td class="{status.lower()}"><a href="{html.escape(prefix)}{stage}/index.html">{status}</a> '
        f"({s['evaluated']} checks: {crit} critical and {warn} warning failures, {s['skipped']} skipped)</td>"
    )


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}"
        ".failed{background:#fdd}.warnings{background:#ffd}.passed{background:#dfd}</style>"
        f"<h1>{html.escape(title)}</h1>{body}\n"
    )


def _write_atomic(path: Path, text: str) -> Path:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)  # atomic, so concurrent runs never leave half a page
    return path


def write_day_index(day: Path) -> Path:
    """``data_docs/<day>/index.html``: the day's stages, each a GX Data Docs site."""
    header = "".join(f"<th>{s}</th>" for s in STAGES)
    cells = "".join(_stage_cell(day, s, "") for s in STAGES)
    findings = []
    for stage in STAGES:
        path = day / stage / "summary.json"
        s = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for label, key in (("critical", "critical_failures"), ("warning", "warnings")):
            findings += [
                f'<li class="{"failed" if label == "critical" else "warnings"}">{stage}, {label}: '
                f"{html.escape(line)}</li>"
                for line in s.get(key, [])
            ]
        findings += [
            f"<li>{stage}, not validated: {html.escape(k)}: {html.escape(v)}</li>"
            for k, v in s.get("not_validated", {}).items()
        ]
    body = (
        f"<table><tr>{header}</tr><tr>{cells}</tr></table>"
        + (f"<h2>Findings</h2><ul>{''.join(findings)}</ul>" if findings else "<p>No findings.</p>")
        + "<p>inputs: staged rows and marts, checked before the model stages; "
        "published: the contract's tables after publish. All results: <code>main.dq_results</code>.</p>"
        '<p><a href="../index.html">all days</a></p>'
    )
    return _write_atomic(day / "index.html", _page(f"cx data quality, {day.name}", body))


def write_docs_home(root: Path) -> Path:
    """``data_docs/index.html``: every day's stages with their status, newest first."""
    rows = []
    days = (p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for day in sorted(days, key=lambda p: p.name, reverse=True):
        cells = "".join(_stage_cell(day, s, f"{day.name}/") for s in STAGES)
        name = html.escape(day.name)
        rows.append(f'<tr><th><a href="{name}/index.html">{name}</a></th>{cells}</tr>')
    header = "".join(f"<th>{s}</th>" for s in STAGES)
    body = f"<table><tr><th>as-of day</th>{header}</tr>\n" + "\n".join(rows) + "\n</table>"
    return _write_atomic(root / "index.html", _page("cx data quality: Data Docs by as-of day", body))

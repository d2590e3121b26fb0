"""`python -m cx.orchestration.startup`: what `make airflow` tells the user before it
starts Airflow (the URL, where the admin password is, the worker count, and what
unpausing cx_daily will do), read from the same settings Airflow and the DAG use."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def newest_landing_day(landing: Path) -> date | None:
    """The newest date folder under ``landing/<source>/`` (None when nothing landed)."""
    days = [p.name for p in landing.glob("*/*") if p.is_dir() and _DAY.match(p.name)] if landing.is_dir() else []
    return date.fromisoformat(max(days)) if days else None


def catchup_note(catchup: bool, start: date, newest: date | None, today: date) -> str:
    """What unpausing cx_daily does with these settings, in one or two lines."""
    if not catchup:
        latest = f"; the newest landing day is {newest}" if newest else ""
        return (
            f"cx_daily: catch-up off (CX_CATCHUP=false): unpausing runs only the latest day{latest}. "
            "Earlier days: `make run FROM=... TO=...` or `airflow backfill create`."
        )
    runs = (today - start).days + 1
    note = f"cx_daily: catch-up ON from {start} (CX_START_DATE): unpausing queues {runs} daily runs"
    if newest is None or newest < today:
        empty = runs if newest is None or newest < start else (today - newest).days
        note += f", {empty} of them after the newest landing day {newest} (no data)"
    return note + "."


def banner(env: dict[str, str], today: date) -> str:
    from cx.config import load_settings

    settings = load_settings()
    home = Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow")
    host = env.get("AIRFLOW__API__HOST", "localhost")
    host = "localhost" if host in ("0.0.0.0", "") else host
    url = env.get("AIRFLOW__API__BASE_URL") or f"http://{host}:{env.get('AIRFLOW__API__PORT', '8080')}"
    passwords = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or str(
        home / "simple_auth_manager_passwords.json.generated"
    )
    users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(",")[0].split(":")[0]
    newest = newest_landing_day(settings.landing_dir)
    return "\n".join(
        [
            f"Airflow UI: {url}  (user {users}; password in {passwords}, written at first start)",
            f"Task slots: {env.get('AIRFLOW__CORE__PARALLELISM', '32')} (AIRFLOW__CORE__PARALLELISM), "
            f"API server workers: {env.get('AIRFLOW__API__WORKERS', '1')}",
            catchup_note(settings.catchup, settings.start_date, newest, today),
        ]
    )


if __name__ == "__main__":
    print(banner(dict(os.environ), date.today()))

"""Telemetry off for every library the pipeline runs (no internet, and users do not
want it): the one list, applied before Cosmos reads its settings at import."""

from __future__ import annotations

import os

TELEMETRY_OFF = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "SCARF_ANALYTICS": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
}


def disable_telemetry() -> None:
    """Set each variable unless the environment already decides it."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)

"""Alerts: failure and freshness notifications through one Airflow connection.

Off by default. Set ``CX_ALERT_CONN_ID`` to the id of an Airflow connection and
the pipeline notifies it when a task fails for good (after its retries) and when a
source is silent longer than its SLA. What is sent depends on the connection type:

- ``http`` / ``https``: a JSON POST (a generic webhook: Teams/Mattermost/Opsgenie
  relays, an internal endpoint). URL: the connection's host, port and path
  (``AIRFLOW_CONN_CX_ALERTS='https://hooks.example.com/services/T0/B0'``), or the
  ``url`` extra. Login/password become basic auth; ``headers`` extra is sent too.
- ``smtp`` / ``email``: an email through ``apache-airflow-providers-smtp`` (installed
  with Airflow); recipients in the ``to`` extra (comma-separated).
- ``slackwebhook`` / ``slack``: Slack through ``apache-airflow-providers-slack``, only
  when that provider is installed (it is not a dependency of this project).

Alert text carries ids, dates, counts and the error's first line with e-mail
addresses and long digit runs masked: never rows, values or customer data. An
alert that cannot be delivered is logged and never fails or masks the task.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

from cx.config import load_settings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300
HTTP_TIMEOUT_S = 10.0

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Phone numbers, card or account numbers: 7+ digits, possibly separated.
_DIGITS = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[+-]\d{2}:?\d{2}|Z)?)?")


def scrub(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The first line of ``text`` with PII-looking tokens masked, at most ``limit`` chars.

    Dates and timestamps are kept (run ids and days are what make an alert useful);
    e-mail addresses and digit runs that could be phone or account numbers are not.
    """
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    line = _ISO_DATETIME.sub(keep, line)
    line = _EMAIL.sub("<email>", line)
    line = _DIGITS.sub("<number>", line)
    line = re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def failure_payload(context: Any) -> dict[str, Any]:
    """What a task-failure alert says: where it failed and a scrubbed error summary."""
    ti = context.get("task_instance") or context.get("ti")
    exc = context.get("exception")
    logical = context.get("logical_date")
    return {
        "event": "task_failed",
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "logical_date": logical.isoformat() if hasattr(logical, "isoformat") else logical,
        "try_number": getattr(ti, "try_number", None),
        "error_type": type(exc).__name__ if exc is not None else None,
        "error": scrub(str(exc)) if exc is not None else None,
        "log_url": _safe_log_url(ti),
    }


def freshness_payload(dag_id: str, run_id: str, as_of: str, stale: list[dict[str, Any]]) -> dict[str, Any]:
    """A freshness alert: which sources are silent, since when, against which SLA."""
    return {
        "event": "source_stale",
        "dag_id": dag_id,
        "run_id": run_id,
        "as_of_date": as_of,
        "stale_sources": [{k: s.get(k) for k in ("source", "last_delivery", "days_silent", "sla_days")} for s in stale],
    }


def summary_line(payload: dict[str, Any]) -> str:
    """One human-readable line (email subject, Slack text)."""
    if payload.get("event") == "source_stale":
        names = ", ".join(f"{s['source']} ({s['days_silent']}d > {s['sla_days']}d)" for s in payload["stale_sources"])
        return f"[cx] {payload['dag_id']} {payload['as_of_date']}: stale sources: {names}"
    where = f"{payload.get('dag_id')}.{payload.get('task_id')}"
    error = f": {payload['error_type']}: {payload['error']}" if payload.get("error_type") else ""
    return f"[cx] {where} failed in {payload.get('run_id')}{error}"


def _safe_log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # log_url reads configuration; an alert must not fail on it
        return None


def webhook_url(conn: Any) -> str:
    """The URL a http(s) connection points at (see the module docstring)."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    host = (conn.host or "").strip()
    if not host:
        raise ValueError(f"connection {conn.conn_id!r} has no host and no 'url' extra")
    schema = (conn.schema or "").strip()
    # The UI's HTTP form keeps the scheme in "schema"; a connection URI keeps the path there.
    scheme, path = (
        (schema, extra.get("endpoint", ""))
        if schema in ("http", "https")
        else ("https" if conn.conn_type == "https" else "http", schema)
    )
    base = host if "://" in host else f"{scheme}://{host}"
    if conn.port:
        base = f"{base.rstrip('/')}:{conn.port}"
    return base.rstrip("/") + ("/" + str(path).lstrip("/") if path else "")


def post_json(conn: Any, payload: dict[str, Any]) -> int:
    """POST ``payload`` as JSON to the connection's URL; returns the HTTP status."""
    extra = conn.extra_dejson or {}
    headers = {"Content-Type": "application/json", **{str(k): str(v) for k, v in (extra.get("headers") or {}).items()}}
    if conn.login:
        token = base64.b64encode(f"{conn.login}:{conn.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = json.dumps({**payload, "text": summary_line(payload)}, default=str).encode()
    request = urllib.request.Request(webhook_url(conn), data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=float(extra.get("timeout", HTTP_TIMEOUT_S))) as response:
        return int(response.status)


def _get_connection(conn_id: str) -> Any:
    from airflow.sdk import Connection

    return Connection.get(conn_id)


def deliver(payload: dict[str, Any], conn_id: str | None = None, context: Any = None) -> bool:
    """Send ``payload`` through the alert connection. False when alerts are off or delivery failed."""
    conn_id = conn_id if conn_id is not None else load_settings().alert_conn_id
    if not conn_id:
        return False
    try:
        conn = _get_connection(conn_id)
        kind = (conn.conn_type or "").lower()
        if kind in ("http", "https"):
            status = post_json(conn, payload)
            log.info("alert %s sent to connection %s (HTTP %s)", payload.get("event"), conn_id, status)
            return True
        if kind in ("smtp", "email"):
            return _send_email(conn, conn_id, payload, context)
        if kind in ("slack", "slackwebhook"):
            return _send_slack(conn_id, payload, context)
        log.warning("alert connection %s has type %r: expected http, https, smtp or slackwebhook", conn_id, kind)
    except Exception as exc:  # an undeliverable alert is reported, never raised
        log.warning(
            "could not send the %s alert through connection %s: %s: %s",
            payload.get("event"),
            conn_id,
            type(exc).__name__,
            scrub(str(exc)),
        )
    return False


def _send_email(conn: Any, conn_id: str, payload: dict[str, Any], context: Any) -> bool:
    try:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    except ImportError:
        log.warning(
            "alert connection %s is an email connection but apache-airflow-providers-smtp is not installed", conn_id
        )
        return False
    to = [a.strip() for a in str((conn.extra_dejson or {}).get("to", "")).split(",") if a.strip()]
    if not to:
        log.warning("alert connection %s: set the 'to' extra to the recipients", conn_id)
        return False
    body = "<pre>" + json.dumps(payload, indent=2, default=str).replace("<", "&lt;") + "</pre>"
    SmtpNotifier(to=to, subject=summary_line(payload), html_content=body, smtp_conn_id=conn_id).notify(context or {})
    log.info("alert %s emailed through connection %s", payload.get("event"), conn_id)
    return True


def _send_slack(conn_id: str, payload: dict[str, Any], context: Any) -> bool:
    try:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    except ImportError:
        log.warning(
            "alert connection %s is a Slack connection but apache-airflow-providers-slack "
            "is not installed (pip install apache-airflow-providers-slack)",
            conn_id,
        )
        return False
    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=summary_line(payload)).notify(context or {})
    log.info("alert %s sent to Slack through connection %s", payload.get("event"), conn_id)
    return True


class CxFailureNotifier(BaseNotifier):
    """Task failure callback: notify the alert connection, when one is configured.

    Attached to every task by default; it reads ``CX_ALERT_CONN_ID`` when a task
    fails (not at parse time), so turning alerts on needs no DAG change.
    """

    def __init__(self, conn_id: str | None = None):
        super().__init__()
        self.conn_id = conn_id

    def notify(self, context: Any) -> None:
        deliver(failure_payload(context), self.conn_id, context)

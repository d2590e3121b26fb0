"""Failure alerts: message building, PII scrubbing, delivery, and silence when unconfigured."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from cx import alerts

# Alerts go through Airflow connections and hooks (make test, not make test-fast).
pytestmark = pytest.mark.airflow

PII_ERROR = (
    "ValueError: customer jane.doe+vip@example.co.uk (phone +44 20 7946 0958, card 4111 1111 1111 1111) "
    "failed on 2024-03-10T00:00:00+00:00\nTraceback line 2 with row data: Jane Doe, 12 High Street"
)


def _context(exc: BaseException | None = None) -> dict:
    ti = SimpleNamespace(
        dag_id="cx_daily",
        task_id="models.segmentation",
        run_id="backfill__2024-03-11T00:00:00+00:00",
        try_number=3,
        log_url="http://localhost:8080/dags/cx_daily/runs/x/tasks/models.segmentation",
    )
    return {
        "task_instance": ti,
        "ti": ti,
        "run_id": ti.run_id,
        "logical_date": datetime(2024, 3, 10, tzinfo=UTC),
        "exception": exc if exc is not None else ValueError(PII_ERROR),
    }


def test_scrub_masks_contact_and_account_numbers_but_keeps_dates():
    text = alerts.scrub(PII_ERROR)
    assert "jane.doe" not in text and "example.co.uk" not in text
    assert "7946" not in text and "4111" not in text
    assert "<email>" in text and "<number>" in text
    assert "2024-03-10T00:00:00+00:00" in text  # the day is what makes an alert actionable
    assert "Jane Doe" not in text and "High Street" not in text  # only the first line is kept


def test_scrub_truncates():
    assert len(alerts.scrub("x" * 5000)) == alerts.MAX_ERROR_CHARS


def test_failure_payload_summarises_without_pii():
    payload = alerts.failure_payload(_context())
    assert payload["event"] == "task_failed"
    assert payload["dag_id"] == "cx_daily"
    assert payload["task_id"] == "models.segmentation"
    assert payload["run_id"] == "backfill__2024-03-11T00:00:00+00:00"
    assert payload["logical_date"] == "2024-03-10T00:00:00+00:00"
    assert payload["try_number"] == 3
    assert payload["error_type"] == "ValueError"
    assert payload["log_url"].startswith("http://localhost:8080/")
    dumped = json.dumps(payload)
    for secret in ("jane.doe", "7946 0958", "4111 1111", "Jane Doe", "High Street"):
        assert secret not in dumped
    line = alerts.summary_line(payload)
    assert line.startswith("[cx] cx_daily.models.segmentation failed in backfill__2024-03-11")
    assert "ValueError" in line and "jane.doe" not in line


def test_log_failure_line_is_scrubbed(caplog):
    from cx.orchestration import log_failure

    with caplog.at_level("ERROR", logger="cx.orchestration.defaults"):
        log_failure(_context())
    (record,) = [r for r in caplog.records if r.name == "cx.orchestration.defaults"]
    message = record.getMessage()
    assert "task=models.segmentation" in message and "ValueError" in message
    assert "jane.doe" not in message and "4111" not in message


def test_freshness_payload_and_line():
    payload = alerts.freshness_payload(
        "cx_daily",
        "scheduled__x",
        "2024-03-10",
        [
            {"source": "products", "last_delivery": "2024-03-06", "days_silent": 4, "sla_days": 2, "extra": "dropped"},
        ],
    )
    assert payload["stale_sources"] == [
        {"source": "products", "last_delivery": "2024-03-06", "days_silent": 4, "sla_days": 2}
    ]
    assert alerts.summary_line(payload) == "[cx] cx_daily 2024-03-10: stale sources: products (4d > 2d)"


# --- delivery -------------------------------------------------------------------------------


@pytest.fixture()
def attempts(monkeypatch):
    """Records every attempt to resolve a connection or open a URL (deliver() swallows errors,
    so recording, not raising, is what makes an attempt visible to the test)."""
    seen: list[tuple] = []

    def record(*args, **kwargs):
        seen.append(args)
        raise RuntimeError("recorded")

    monkeypatch.setattr(alerts, "_get_connection", record)
    monkeypatch.setattr(alerts.urllib.request, "urlopen", record)
    return seen


def test_nothing_is_sent_when_unconfigured(monkeypatch, attempts):
    monkeypatch.delenv("CX_ALERT_CONN_ID", raising=False)
    assert alerts.deliver(alerts.failure_payload(_context())) is False
    alerts.CxFailureNotifier().notify(_context())
    alerts.CxFailureNotifier()(_context())  # the way Airflow calls a notifier callback
    monkeypatch.setenv("CX_ALERT_CONN_ID", "   ")
    assert alerts.deliver(alerts.failure_payload(_context())) is False
    assert attempts == []
    monkeypatch.setenv("CX_ALERT_CONN_ID", "cx_alerts")  # the recorder itself works
    alerts.CxFailureNotifier()(_context())
    assert attempts == [("cx_alerts",)]


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[str, dict, dict]] = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Capture.received, _Capture.status = [], 200
    httpd = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_webhook_receives_json(server, monkeypatch):
    port = server.server_port
    monkeypatch.setenv("AIRFLOW_CONN_CX_HOOK", f"http://ops:s3cret@127.0.0.1:{port}/hooks/cx")
    monkeypatch.setenv("CX_ALERT_CONN_ID", "cx_hook")
    alerts.CxFailureNotifier()(_context())
    ((path, headers, body),) = _Capture.received
    assert path == "/hooks/cx"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith("Basic ")
    assert body["event"] == "task_failed" and body["task_id"] == "models.segmentation"
    assert body["text"].startswith("[cx] cx_daily.models.segmentation failed")
    assert "jane.doe" not in json.dumps(body)


def test_explicit_connection_and_json_form(server, monkeypatch):
    port = server.server_port
    monkeypatch.delenv("CX_ALERT_CONN_ID", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CX_JSON",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": port,
                "schema": "http",
                "extra": {"endpoint": "/relay", "headers": {"X-Team": "cx"}},
            }
        ),
    )
    assert alerts.deliver({"event": "task_failed", "dag_id": "d", "task_id": "t"}, "cx_json") is True
    ((path, headers, _),) = _Capture.received
    assert path == "/relay" and headers["X-Team"] == "cx"


def test_undeliverable_alert_is_logged_not_raised(server, monkeypatch, caplog):
    _Capture.status = 500
    monkeypatch.setenv("AIRFLOW_CONN_CX_HOOK", f"http://127.0.0.1:{server.server_port}/hooks/cx")
    with caplog.at_level("WARNING", logger="cx.alerts"):
        assert alerts.deliver(alerts.failure_payload(_context()), "cx_hook") is False
        assert alerts.deliver(alerts.failure_payload(_context()), "no_such_connection") is False
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "HTTPError" in messages and "no_such_connection" in messages


def test_email_and_slack_need_their_setup(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_CX_MAIL", json.dumps({"conn_type": "smtp", "host": "localhost"}))
    monkeypatch.setenv("AIRFLOW_CONN_CX_SLACK", json.dumps({"conn_type": "slackwebhook", "password": "x"}))
    with caplog.at_level("WARNING", logger="cx.alerts"):
        assert alerts.deliver({"event": "task_failed"}, "cx_mail") is False  # no "to" extra
        sent_to_slack = alerts.deliver({"event": "task_failed"}, "cx_slack")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "'to' extra" in messages
    try:
        import airflow.providers.slack  # noqa: F401
    except ImportError:
        assert sent_to_slack is False and "apache-airflow-providers-slack" in messages


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        (
            dict(conn_type="http", host="hooks.example.com", schema="services/T0/B0"),
            "http://hooks.example.com/services/T0/B0",
        ),
        (dict(conn_type="https", host="hooks.example.com", port=8443, schema="x"), "https://hooks.example.com:8443/x"),
        (
            dict(conn_type="http", host="hooks.example.com", schema="https", extra={"endpoint": "api/alert"}),
            "https://hooks.example.com/api/alert",
        ),
        (dict(conn_type="http", host="https://relay.example.com/base", schema=""), "https://relay.example.com/base"),
        (
            dict(conn_type="http", host="ignored", extra={"url": "https://exact.example.com/hook?k=1"}),
            "https://exact.example.com/hook?k=1",
        ),
    ],
)
def test_webhook_url(conn, url):
    fields = {"conn_id": "c", "port": None, "schema": None, **conn}
    fake = SimpleNamespace(extra_dejson=fields.pop("extra", {}), **fields)
    assert alerts.webhook_url(fake) == url

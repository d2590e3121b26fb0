"""Source freshness: the pure evaluation, its configuration, and the pipeline step."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cx.freshness import ABSENT, FRESH, NOT_DELIVERED_YET, STALE, evaluate, to_frame

D = date(2024, 3, 10)


def _days(*offsets: int) -> list[date]:
    return [D - timedelta(days=o) for o in offsets]


def _by_source(results):
    return {r.source: r for r in results}


def test_statuses_and_days_silent():
    landed = {
        "orders": _days(0, 1, 2),  # delivered today
        "customers": _days(2, 5),  # silent 2 days: exactly the SLA, still fresh
        "products": _days(3, 9),  # silent 3 days > SLA 2
        "reviews": [D + timedelta(days=1)],  # only a later day: not delivered yet as of D
    }
    results = _by_source(evaluate(landed, D, lambda s: 2, ["orders", "customers", "products", "reviews", "web_events"]))
    assert (results["orders"].status, results["orders"].days_silent) == (FRESH, 0)
    assert (results["customers"].status, results["customers"].days_silent) == (FRESH, 2)
    assert (results["products"].status, results["products"].days_silent) == (STALE, 3)
    assert results["products"].last_delivery == D - timedelta(days=3)
    assert results["reviews"].status == NOT_DELIVERED_YET and results["reviews"].days_silent is None
    assert results["web_events"].status == ABSENT
    assert [r.source for r in results.values() if r.stale] == ["products"]


def test_later_days_do_not_count_so_backfilled_days_are_judged_as_of_then():
    landed = {"orders": _days(5) + [D + timedelta(days=3)]}
    (result,) = evaluate(landed, D, lambda s: 2, ["orders"])
    assert result.status == STALE and result.days_silent == 5
    (later,) = evaluate(landed, D + timedelta(days=3), lambda s: 2, ["orders"])
    assert later.status == FRESH and later.days_silent == 0


def test_per_source_sla():
    landed = {"products": _days(5), "orders": _days(5)}
    sla = {"products": 7}.get
    results = _by_source(evaluate(landed, D, lambda s: sla(s, 2), ["products", "orders"]))
    assert results["products"].status == FRESH and results["products"].sla_days == 7
    assert results["orders"].status == STALE and results["orders"].sla_days == 2


def test_negative_sla_is_refused():
    with pytest.raises(ValueError, match="SLA"):
        evaluate({"orders": _days(0)}, D, lambda s: -1, ["orders"])


def test_describe_names_source_days_and_sla():
    (stale,) = evaluate({"orders": _days(4)}, D, lambda s: 2, ["orders"])
    assert stale.describe() == f"orders: no delivery for 4 days (last {D - timedelta(days=4)}, SLA 2 days)"


def test_frame_shape():
    frame = to_frame(evaluate({"orders": _days(1)}, D, lambda s: 2, ["orders", "reviews"]))
    assert list(frame.columns) == ["source", "status", "last_delivery", "days_silent", "sla_days"]
    assert frame["days_silent"].isna().tolist() == [False, True]


def test_settings_overrides(monkeypatch):
    from cx.config import load_settings

    monkeypatch.setenv("CX_FRESHNESS_SLA_DAYS", "3")
    monkeypatch.setenv("CX_FRESHNESS_SLA_OVERRIDES", "products=7, reviews=5")
    settings = load_settings()
    assert settings.freshness_sla("products") == 7
    assert settings.freshness_sla("reviews") == 5
    assert settings.freshness_sla("orders") == 3
    monkeypatch.setenv("CX_FRESHNESS_SLA_OVERRIDES", "prodcts=7")
    with pytest.raises(ValueError, match="prodcts"):
        load_settings()
    monkeypatch.setenv("CX_FRESHNESS_SLA_OVERRIDES", "products=soon")
    with pytest.raises(ValueError, match="products=soon"):
        load_settings()
    monkeypatch.delenv("CX_FRESHNESS_SLA_OVERRIDES")
    monkeypatch.setenv("CX_FRESHNESS_FAIL", "maybe")
    with pytest.raises(ValueError, match="CX_FRESHNESS_FAIL"):
        load_settings()


# --- the pipeline step: warehouse rows, failing mode, alerts --------------------------------


@pytest.fixture()
def landing_env(tmp_path, monkeypatch):
    """orders delivered on D, products last on D-4, reviews never; no other sources."""
    landing = tmp_path / "landing"
    for source, day in (("orders", D), ("orders", D - timedelta(days=1)), ("products", D - timedelta(days=4))):
        folder = landing / source / day.isoformat()
        folder.mkdir(parents=True)
        (folder / "part.csv").write_text("id\n1\n")
    (landing / "reviews").mkdir()
    monkeypatch.setenv("CX_LANDING_DIR", str(landing))
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "wh" / "cx.duckdb"))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("CX_ALERT_CONN_ID", raising=False)
    monkeypatch.delenv("CX_FRESHNESS_FAIL", raising=False)
    return tmp_path


def _rows(day: date):
    from cx.warehouse import connect

    with connect() as con:
        return con.execute(
            "select source, status, last_delivery, days_silent, sla_days from main.source_freshness "
            "where as_of_date = ? order by source",
            [day],
        ).fetchall()


def test_check_freshness_records_rows_idempotently(landing_env, caplog):
    from cx.pipeline import RunWindow, check_freshness

    window = RunWindow.resolve(D)
    with caplog.at_level("WARNING", logger="cx.pipeline"):
        summary = check_freshness(window)
    assert summary["stale"] == ["products"]
    assert summary["alerted"] is False  # CX_ALERT_CONN_ID unset: nothing is sent
    assert any("products: no delivery for 4 days" in r.getMessage() for r in caplog.records)
    first = _rows(D)
    assert ("products", STALE, D - timedelta(days=4), 4, 2) in first
    assert ("orders", FRESH, D, 0, 2) in first
    assert ("reviews", NOT_DELIVERED_YET, None, None, 2) in first
    assert ("web_events", ABSENT, None, None, 2) in first
    assert len(first) == 7  # one row per contract source
    check_freshness(window)
    assert _rows(D) == first  # replaced, not appended
    check_freshness(RunWindow.resolve(D - timedelta(days=1)))
    assert len(_rows(D)) == 7 and len(_rows(D - timedelta(days=1))) == 7


def test_check_freshness_can_fail_the_run_after_recording(landing_env, monkeypatch):
    from cx.pipeline import RunWindow, SourceStaleError, check_freshness

    monkeypatch.setenv("CX_FRESHNESS_FAIL", "true")
    with pytest.raises(SourceStaleError, match="products: no delivery for 4 days"):
        check_freshness(RunWindow.resolve(D))
    assert len(_rows(D)) == 7
    monkeypatch.setenv("CX_FRESHNESS_SLA_OVERRIDES", "products=4")
    assert check_freshness(RunWindow.resolve(D))["stale"] == []


class _Capture(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def webhook(monkeypatch):
    _Capture.received = []
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_CX_TEST_ALERTS", f"http://127.0.0.1:{server.server_port}/hooks/cx")
    yield _Capture.received
    server.shutdown()


def test_check_freshness_alerts_when_configured(landing_env, webhook, monkeypatch):
    from cx.pipeline import RunWindow, check_freshness

    monkeypatch.setenv("CX_ALERT_CONN_ID", "cx_test_alerts")
    summary = check_freshness(RunWindow.resolve(D), dag_id="cx_daily", run_id="scheduled__x")
    assert summary["alerted"] is True
    (payload,) = webhook
    assert payload["event"] == "source_stale"
    assert payload["as_of_date"] == D.isoformat()
    assert payload["stale_sources"] == [
        {"source": "products", "last_delivery": str(D - timedelta(days=4)), "days_silent": 4, "sla_days": 2}
    ]
    assert "products (4d > 2d)" in payload["text"]
    webhook.clear()
    check_freshness(RunWindow.resolve(D), notify=False)  # backfills record without alerting
    assert webhook == []

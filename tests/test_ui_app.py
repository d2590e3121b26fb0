"""The Customer Experience FastAPI app, in process: what it shows, what it refuses.

Authentication here is a stand-in with Airflow's contract (401 without a session,
403 without permission); the real Airflow login is exercised in test_ui_browser.py.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from _fixtures.ui_warehouse import D2, D3, PII, build_ui_warehouse
from cx.config import load_settings
from cx.ui.app import create_app
from cx.warehouse import warehouse_lock

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[1]
HTML = {"accept": "text/html,application/xhtml+xml"}


def fake_airflow_auth(request: Request) -> None:
    token = request.cookies.get("_token")
    if token is None:
        raise HTTPException(401, "Not authenticated")
    if token != "reader":
        raise HTTPException(403, "Forbidden")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_ui_warehouse(tmp_path_factory.mktemp("ui_app"))


@pytest.fixture
def env(built, monkeypatch, tmp_path):
    monkeypatch.setenv("CX_WAREHOUSE", str(built["warehouse"]))
    monkeypatch.setenv("CX_ARTIFACTS_DIR", str(built["artifacts"]))
    monkeypatch.setenv("CX_DBT_PROJECT_DIR", str(tmp_path / "dbt"))
    return built


def make_client(runs_provider=None, token: str | None = "reader") -> TestClient:
    app = create_app(
        authorize=fake_airflow_auth, login_url=lambda r: "/auth/login?next=" + str(r.url), runs_provider=runs_provider
    )
    client = TestClient(app, follow_redirects=False)
    if token:
        client.cookies.set("_token", token)
    return client


PAGES = [
    "/",
    "/customer",
    "/segments",
    "/retention",
    "/sentiment",
    "/forecasts",
    "/quality",
    "/quality/check?suite=stg_orders_volume&expectation=volume_vs_trailing_mean",
    "/forecasts?series=total&metric=revenue",
]


@pytest.mark.parametrize(
    "path",
    [
        *PAGES,
        "/?as_of=2024-11-26",
        "/data-docs/",
        "/data-docs/2024-11-26/index.html",
        "/charts/2024-11-26/total_revenue.png",
        "/dbt-docs/index.html",
        "/data-docs/..%2F..%2Fsecret.txt",
    ],
)
def test_every_route_refuses_without_login(env, path):
    client = make_client(token=None)
    response = client.get(path)
    assert response.status_code == 401
    assert "Springfield" not in response.text and "0.1668" not in response.text
    page = client.get(path, headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login?next=")
    assert make_client(token="someone-else").get(path).status_code == 403
    assert make_client(token=None).post("/customer", data={"q": "c1"}).status_code == 401


RUN = {
    "run_id": "scheduled__2024-11-26T00:00:00+00:00",
    "run_type": "scheduled",
    "state": "failed",
    "logical_date": None,
    "start_date": datetime(2024, 11, 27, 1, 0),
    "end_date": datetime(2024, 11, 27, 1, 7, 30),
    "stages": [{"stage": "models", "tasks": 4, "states": {"failed": 1, "success": 3}}],
    "failed_tasks": ["models.recommendations"],
}


def runs_for(days: dict[date, list[dict]]):
    seen: list[date] = []

    def provider(day: date) -> list[dict]:
        seen.append(day)
        return days.get(day, [])

    provider.seen = seen
    return provider


@pytest.mark.parametrize("path", PAGES)
def test_every_view_renders_safely(env, path):
    response = make_client(runs_for({D3: [RUN]})).get(path)
    assert response.status_code == 200, response.text[-2000:]
    page = response.text
    assert 'id="as-of">2024-11-26<' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    sizes = [int(n) for n in re.findall(r'font-size(?:="|:\s*)(\d+)', page)]
    assert sizes and min(sizes) >= 12  # chart captions and text stay readable
    for secret in PII:
        assert secret not in page, (path, secret)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["cache-control"] == "private, no-store"


def test_overview_health_kpis_and_changes(env):
    provider = runs_for({D3: [RUN]})
    page = make_client(provider).get("/", headers=HTML).text
    assert provider.seen == [D3]
    verdicts = section(page, 'id="model-verdicts"', "</table>")
    forecast = section(verdicts, 'data-model="forecast"', "</tr>")
    # The forecast gate is MASE per series; coverage is context: amber "partly", never "7 fail" in red.
    assert 'class="warn">partly<' in forecast and "1 of 2 series" in forecast and "fail" not in forecast
    assert 'class="pass">model published<' in section(verdicts, 'data-model="recommendations"', "</tr>")
    assert "1 critical failing" in page
    assert 'data-kpi="Revenue"' in page and "<svg" in section(page, 'data-kpi="Revenue"', "</div>\n</div>")
    assert "2 check(s) newly failing since 2024-11-25" in page
    # The day's Airflow run links to its grid and to the failed task's logs, out of the iframe.
    run_url = "/dags/cx_daily/runs/scheduled__2024-11-26T00%3A00%3A00%2B00%3A00"
    assert f'target="_top" class="run-link" href="{run_url}"' in page
    assert f'href="{run_url}/tasks/models.recommendations"' in page
    assert "7m 30s" in page


def section(page: str, start: str, end: str) -> str:
    tail = page[page.index(start) :]
    return tail[: tail.index(end)]


def test_an_earlier_day_shows_that_day_everywhere(env):
    provider = runs_for({})
    client = make_client(provider)
    for path in PAGES[:6]:
        page = client.get(path + ("&" if "?" in path else "?") + "as_of=2024-11-25").text
        assert 'id="as-of">2024-11-25<' in page, path
        assert 'href="/segments?as_of=2024-11-25"' in page, path  # the tabs keep the day
    overview = client.get("/?as_of=2024-11-25").text
    assert "0.1501" in overview  # that day's p@10 (0.9 x 0.16676)
    assert "No cx_daily run for 2024-11-25 in Airflow" in overview
    assert "No forecast run on or before 2024-11-25" in client.get("/forecasts?as_of=2024-11-25").text
    assert "No Data Docs built for 2024-11-25" in client.get("/quality?as_of=2024-11-25").text
    assert set(provider.seen) == {D2}


def test_a_day_without_a_run_says_so(env):
    page = make_client(runs_for({})).get("/segments?as_of=2024-11-20").text
    assert 'id="no-run-that-day"' in page and "did not run for 2024-11-20" in page
    assert "No segmentation run on 2024-11-20" in page


@pytest.mark.parametrize("bad", ["yesterday'--", "2024-13-01", "2024-11-26T00:00", "<script>"])
def test_bad_day_is_a_friendly_400_page(env, bad):
    response = make_client().get("/", params={"as_of": bad})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "must be a date like 2024-11-26" in response.text and "<script>" not in response.text
    assert 'href="/"' in response.text


def test_customer_lookup_by_id_and_hash(env):
    client = make_client()
    assert 'id="customer-lookup"' in client.get("/customer").text
    page = client.post("/customer?as_of=2024-11-26", data={"q": "a1b2c3"}).text  # the e-mail hash
    assert "Customer <code>c1</code>" in page
    recs = section(page, 'id="customer-recommendations"', "</table>")
    assert "Product 1" in recs and "0.9" in recs
    assert "Champions" in section(page, 'id="customer-segment"', "</table>")
    assert "[name]" in section(page, 'id="customer-tickets"', "</table>")
    for secret in PII:
        assert secret not in page
    assert 'id="customer-not-found"' in client.post("/customer", data={"q": "c999"}).text
    refused = client.post("/customer", data={"q": PII[0]})
    assert refused.status_code == 400 and PII[0] not in refused.text


def test_lookup_keeps_identifiers_out_of_urls_and_logs(env, caplog):
    client = make_client()
    with caplog.at_level(logging.DEBUG):
        response = client.post("/customer", data={"q": "c1"})
    assert "c1" not in str(response.url) and 'method="post"' in response.text
    assert not any("a1b2c3" in r.getMessage() or "'c1'" in r.getMessage() for r in caplog.records)


def test_failing_check_drill_down(env):
    page = make_client().get("/quality?as_of=2024-11-26").text
    link = "/quality/check?suite=stg_orders_volume&amp;expectation=volume_vs_trailing_mean&amp;as_of=2024-11-26"
    assert link in page
    detail = make_client().get(link.replace("&amp;", "&")).text
    assert "547 rows on 2024-11-26, 2.7x the trailing mean of 203" in detail
    assert "expect_column_values_to_be_between" in detail
    email = make_client().get("/quality/check?suite=stg_customers&expectation=email_format").text
    assert "7 rows of 100 break the rule" in email and PII[0] not in email


def test_forecast_full_size_chart(env):
    page = make_client().get("/forecasts").text
    assert 'href="/forecasts?series=total&amp;metric=revenue&amp;as_of=2024-11-26"' in page
    assert "2 days of actuals" in page
    full = make_client().get("/forecasts?series=total&metric=revenue&as_of=2024-11-26").text
    assert 'viewBox="0 0 1200 520"' in full and 'id="forecast-days"' in full


def test_busy_warehouse_page(env):
    client = make_client()
    with warehouse_lock(load_settings().warehouse, timeout_s=5):
        response = client.get("/")
    assert response.status_code == 200
    assert "Warehouse busy, retry." in response.text
    assert "0.1668" not in response.text
    assert "Warehouse busy" not in client.get("/").text


def test_missing_warehouse_page(env, monkeypatch, tmp_path):
    monkeypatch.setenv("CX_WAREHOUSE", str(tmp_path / "none.duckdb"))
    response = make_client().get("/")
    assert response.status_code == 200 and "Warehouse unavailable." in response.text


def test_airflow_history_failure_does_not_break_the_page(env):
    def broken(day):
        raise RuntimeError("metadata database down")

    page = make_client(broken).get("/").text
    assert "Airflow run history unavailable: RuntimeError" in page
    assert "0.1668" in page


def test_data_docs_files_and_traversal(env):
    client = make_client()
    docs = client.get("/data-docs/2024-11-26/index.html")
    assert docs.status_code == 200 and "Data Docs of 2024-11-26" in docs.text
    assert docs.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in docs.headers["content-security-policy"]
    assert client.get("/data-docs/2024-11-26/static/style.css").headers["content-type"].startswith("text/css")
    home = client.get("/data-docs/")
    assert home.status_code == 200 and 'href="2024-11-26/index.html"' in home.text
    for bad in (
        "/data-docs/..%2Fsecret.txt",
        "/data-docs/%2E%2E/secret.txt",
        "/data-docs/2024-11-26/..%2F..%2Fsecret.txt",
        "/data-docs/%2Fetc%2Fpasswd",
        "/data-docs/2024-11-26/missing.html",
        "/charts/2024-11-26/..%2F..%2Fsecret.txt",
        "/charts/..%2F/secret.txt",
        "/dbt-docs/..%2Fsecret.txt",
    ):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not for the browser" not in response.text


def test_chart_png(env):
    response = make_client().get("/charts/2024-11-26/total_revenue.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


def test_dbt_docs_link_when_generated(env, tmp_path):
    target = tmp_path / "dbt" / "target"
    target.mkdir(parents=True)
    (target / "index.html").write_text("<title>dbt docs</title>")
    (target / "run_results.json").write_text("{}")
    client = make_client()
    assert 'href="/dbt-docs/index.html"' in client.get("/").text
    assert client.get("/dbt-docs/index.html").text == "<title>dbt docs</title>"
    assert client.get("/dbt-docs/run_results.json").status_code == 404


def test_plugin_registers_the_app_and_the_nav_item():
    spec = importlib.util.spec_from_file_location("cx_ui_plugin", ROOT / "plugins" / "cx_ui_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.CustomerExperiencePlugin
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/cx" and callable(app["app"])
    (view,) = plugin.external_views
    assert view["name"] == "Customer Experience" and view["destination"] == "nav"
    assert view["href"] == "cx/"  # relative: works under a base_url prefix

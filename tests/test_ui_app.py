"""The Customer Experience FastAPI app, in process: what it shows, what it refuses.

Authentication here is a stand-in with Airflow's contract (401 without a session,
403 without permission); the real Airflow login is exercised in test_ui_browser.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from cx.config import load_settings
from cx.ui.app import create_app
from cx.warehouse import warehouse_lock
from test_ui_queries import PII, build_ui_warehouse

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
    app = create_app(authorize=fake_airflow_auth, login_url=lambda r: "/auth/login?next=" + str(r.url),
                     runs_provider=runs_provider)
    client = TestClient(app, follow_redirects=False)
    if token:
        client.cookies.set("_token", token)
    return client


@pytest.mark.parametrize("path", ["/", "/?as_of=2024-11-26", "/data-docs/", "/data-docs/2024-11-26/index.html",
                                  "/charts/2024-11-26/total_revenue.png", "/dbt-docs/index.html",
                                  "/data-docs/..%2F..%2Fsecret.txt"])
def test_every_route_refuses_without_login(env, path):
    client = make_client(token=None)
    response = client.get(path)
    assert response.status_code == 401
    assert "Springfield" not in response.text and "0.1668" not in response.text
    page = client.get(path, headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login?next=")
    assert make_client(token="someone-else").get(path).status_code == 403


def test_page_shows_the_last_runs_figures(env):
    runs = [{"run_id": "scheduled__2024-11-26", "run_type": "scheduled", "state": "success",
             "logical_date": None, "start_date": None, "end_date": None}]
    states = [{"stage": "validate", "tasks": 1, "states": {"success": 1}},
              {"stage": "models", "tasks": 4, "states": {"failed": 1, "success": 3}}]
    response = make_client(lambda: (runs, states)).get("/", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert 'id="as-of">2024-11-26<' in page
    recs = page[page.index('id="recommendation-metrics"'):]
    recs = recs[:recs.index("</table>")]
    for value in ("0.1668", "0.1569", "0.5163", "+6.3%", "lightfm-hybrid-v1"):
        assert value in recs or value in page, value
    assert 'class="pass">pass' in recs
    assert "scheduled__2024-11-26" in page and 'class="failed">failed' in page
    assert 'href="data-docs/2024-11-26/index.html"' in page
    assert 'src="charts/2024-11-26/total_revenue.png"' in page
    assert "email_format" in page and "unparseable: TOO MANY COLUMNS" in page
    assert 'id="segment-chart"' in page and ">Loyal<" in page
    assert "dbt-docs" not in page  # no dbt docs generated here
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for secret in PII:
        assert secret not in page, secret
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["cache-control"] == "private, no-store"


def test_page_for_an_earlier_day(env):
    page = make_client().get("/?as_of=2024-11-25").text
    assert 'id="as-of">2024-11-25<' in page
    assert "0.1501" in page  # that day's p@10 (0.9 x 0.16676)
    assert "No Data Docs built for 2024-11-25" in page
    assert "No forecast charts on or before 2024-11-25" in page


def test_bad_day_is_a_clear_400(env):
    response = make_client().get("/?as_of=yesterday'--")
    assert response.status_code == 400
    assert "as_of must be a date" in response.json()["detail"]


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
    def broken():
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
    for bad in ("/data-docs/..%2Fsecret.txt", "/data-docs/%2E%2E/secret.txt", "/data-docs/2024-11-26/..%2F..%2Fsecret.txt",
                "/data-docs/%2Fetc%2Fpasswd", "/data-docs/2024-11-26/missing.html", "/charts/2024-11-26/..%2F..%2Fsecret.txt",
                "/charts/..%2F/secret.txt", "/dbt-docs/..%2Fsecret.txt"):
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
    assert 'href="dbt-docs/index.html"' in client.get("/").text
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

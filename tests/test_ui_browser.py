"""The Customer Experience page in a real browser against a running Airflow API server.

Starts ``airflow api-server`` (temporary AIRFLOW_HOME, migrated SQLite metadata DB,
SimpleAuthManager with a known user, this repo's plugins folder) on a small warehouse,
logs in through Airflow's own login page in Debian's chromium driven by Playwright,
and uses the page as an analyst would: the overview from the UI's navigation, a
customer lookup, an earlier day from the URL, a failing check's drill-down. Each step
leaves a screenshot (see ``shots``); no request may leave the machine. Without a
session the page, its Data Docs and its charts are refused.

Needs /usr/bin/chromium (Debian package ``chromium``; Playwright's own browser
download does not work offline) and the ``playwright`` package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _fixtures.ui_warehouse import PII, build_ui_warehouse

pytestmark = [pytest.mark.e2e, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CX_CHROMIUM", "/usr/bin/chromium")
USER, PASSWORD = "cxviewer", "cx-browser-test-password"
LAST_DAY = "2024-11-26"
STARTUP_TIMEOUT_S = 240

# A finished cx_daily run in Airflow's metadata DB, so the page's run history is read
# from the real schema (written with Airflow's ORM, in a process configured like the server).
SEED_RUN = """
import uuid
from datetime import datetime, timedelta, timezone
from sqlalchemy import insert
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session

day = datetime(2024, 11, 26, tzinfo=timezone.utc)
with create_session() as session:
    run = DagRun(dag_id="cx_daily", run_id="scheduled__2024-11-26T00:00:00+00:00", logical_date=day,
                 run_type="scheduled", state="success", run_after=day, start_date=day)
    session.add(run)
    run.end_date = day + timedelta(minutes=7, seconds=30)  # a run of 7.5 minutes
    session.flush()
    tasks = [("validate.checkpoint", "success"), ("models.sentiment", "success"),
             ("models.recommendations", "upstream_failed"), ("publish", "success")]
    session.execute(insert(TaskInstance.__table__), [
        {"id": uuid.uuid4(), "task_id": task, "dag_id": "cx_daily", "run_id": run.run_id, "map_index": -1,
         "state": state, "try_number": 1, "max_tries": 0, "pool": "default_pool", "pool_slots": 1,
         "start_date": day} for task, state in tasks])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, migrated_airflow_db):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium (apt-get install -y chromium) for the browser test")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

    root = tmp_path_factory.mktemp("ui_browser")
    built = build_ui_warehouse(root / "cx")
    home = root / "airflow"
    (home / "dags").mkdir(parents=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(24).hex(),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "CX_WAREHOUSE": str(built["warehouse"]),
            "CX_ARTIFACTS_DIR": str(built["artifacts"]),
            "CX_DBT_PROJECT_DIR": str(root / "no_dbt_docs"),
        }
    )
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    shutil.copy(migrated_airflow_db, home / "airflow.db")

    log = home / "api-server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [airflow_bin, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        seed = subprocess.run([sys.executable, "-c", SEED_RUN], env=env, capture_output=True, text=True, timeout=300)
        assert seed.returncode == 0, seed.stderr[-3000:]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"airflow api-server did not come up (exit {server.poll()}):\n{_tail(log)}")
                time.sleep(1)
        yield {"base": base, "log": log}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker
            server.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(airflow):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield instance
        instance.close()


def _login(page, base: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", timeout=60_000)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: $CX_ARTIFACTS_DIR/ui_screenshots (make test sets it), else pytest's tmp dir."""
    root = os.environ.get("CX_ARTIFACTS_DIR")
    folder = Path(root) / "ui_screenshots" if root else tmp_path_factory.mktemp("ui_screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def _outside(url: str, base: str) -> bool:
    """A request that would leave the machine (data: and blob: URLs never do)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme not in ("data", "blob", "about") and parts.hostname not in ("127.0.0.1", "localhost", "::1")


def test_cx_page_as_an_analyst_uses_it(airflow, browser, shots):
    from playwright.sync_api import expect

    base = airflow["base"]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    try:
        page = context.new_page()
        _login(page, base)

        # The item the plugin adds to the UI's navigation opens the overview inside the UI.
        page.locator('a[aria-label="Customer Experience"]').click()
        page.wait_for_url(f"{base}/plugin/customer-experience")
        frame = page.frame_locator('iframe[title="Customer Experience"]')
        expect(frame.locator("#as-of")).to_have_text(LAST_DAY, timeout=60_000)
        verdicts = frame.locator("#model-verdicts")
        expect(verdicts.locator('tr[data-model="recommendations"]')).to_contain_text("model published")
        expect(verdicts.locator('tr[data-model="forecast"]')).to_contain_text("1 of 2 series")
        expect(frame.locator('.kpi[data-kpi="Revenue"] svg')).to_have_count(1)
        # The seeded Airflow run of that day, linked to its grid and its failed task's log.
        run = frame.locator("#dag-runs a.run-link")
        expect(run).to_have_attribute("href", "/dags/cx_daily/runs/scheduled__2024-11-26T00%3A00%3A00%2B00%3A00")
        expect(frame.locator("#dag-runs a.task-log-link")).to_have_text("models.recommendations")
        expect(frame.locator("#dag-runs")).to_contain_text("7m 30s")
        page.screenshot(path=shots / "1_overview.png", full_page=True)

        # Customer lookup by the pseudonymised e-mail hash, inside the UI.
        frame.locator("#tab-customer").click()
        frame.locator("#customer-q").fill("a1b2c3")
        frame.locator("#customer-lookup button").click()
        expect(frame.locator("#customer-heading")).to_contain_text("c1", timeout=30_000)
        expect(frame.locator("#customer-recommendations")).to_contain_text("Product 1")
        expect(frame.locator("#customer-reviews")).to_contain_text("[email]")
        page.screenshot(path=shots / "2_customer.png", full_page=True)
        text = frame.locator("body").inner_text()
        for secret in PII:
            assert secret not in text

        # An earlier day straight from the URL: every figure is that day's.
        page.goto(f"{base}/cx/?as_of=2024-11-25")
        expect(page.locator("#as-of")).to_have_text("2024-11-25")
        expect(page.locator('#model-verdicts tr[data-model="recommendations"]')).to_contain_text("0.1501")
        expect(page.locator("#no-airflow-run")).to_be_visible()
        page.screenshot(path=shots / "3_earlier_day.png", full_page=True)
        bad = page.goto(f"{base}/cx/?as_of=yesterday")
        assert bad.status == 400 and "must be a date" in page.locator("#bad-request").inner_text()

        # A failing check: from the day's checks to what the rule expected and what was observed.
        page.goto(f"{base}/cx/quality?as_of={LAST_DAY}")
        page.locator("#dq-checks a.check-link", has_text="volume_vs_trailing_mean").click()
        expect(page.locator("#check-sentence")).to_contain_text("547 rows on 2024-11-26, 2.7x the trailing mean of 203")
        page.screenshot(path=shots / "4_check_drill_down.png", full_page=True)
        page.locator("#data-docs-link").click()
        expect(page.locator("#gx")).to_have_text(f"Data Docs of {LAST_DAY}", timeout=30_000)

        # The session's cookie reaches the app's files; traversal stays refused.
        api = context.request
        docs = api.get(f"{base}/cx/data-docs/{LAST_DAY}/index.html")
        assert docs.status == 200
        assert "default-src 'self'" in docs.headers["content-security-policy"]
        for bad_path in (
            "/cx/data-docs/..%2F..%2Fwarehouse%2Fcx.duckdb",
            "/cx/data-docs/%2E%2E/secret.txt",
            "/cx/charts/..%2F..%2Fsecret.txt/x.png",
            "/cx/dbt-docs/..%2Fsecret.txt",
        ):
            response = api.get(base + bad_path)
            assert response.status == 404, bad_path
            assert "not for the browser" not in response.text()
    finally:
        context.close()
    assert requests and not [url for url in requests if _outside(url, base)]


def test_cx_page_and_files_refused_without_login(airflow, browser):
    base = airflow["base"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/cx/")
        assert "/auth/login" in page.url  # a browser is sent to Airflow's login
        page.wait_for_selector("input[name=password]")
        assert "0.1668" not in page.content()

        api = context.request
        for path in (
            "/cx/",
            f"/cx/?as_of={LAST_DAY}",
            f"/cx/data-docs/{LAST_DAY}/index.html",
            "/cx/data-docs/",
            f"/cx/charts/{LAST_DAY}/total_revenue.png",
            "/cx/dbt-docs/index.html",
        ):
            response = api.get(base + path, max_redirects=0)
            assert response.status == 401, path
            assert "0.1668" not in response.text() and "Data Docs of" not in response.text()
            html = api.get(base + path, max_redirects=0, headers={"Accept": "text/html"})
            assert html.status == 303 and "/auth/login" in html.headers["location"], path
        forged = api.get(f"{base}/cx/data-docs/{LAST_DAY}/index.html", headers={"Cookie": "_token=forged.jwt.value"})
        assert forged.status in (401, 403)
        assert "Data Docs of" not in forged.text()
    finally:
        context.close()

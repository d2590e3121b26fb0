"""A newcomer's path, from a clean clone of the committed HEAD in a shell with no
virtualenv on PATH: `make run` of two UCI days (which installs the project), then
`make airflow` as the README says, and the runs as its UI shows them: the REST API (what
the UI's grid and log panel read) and the UI in Debian's chromium, logged in with the
password file `make airflow` names. The runs' durations are the wall times `make run`
printed (within 10%), and a task's log opens with that task's own lines. Screenshots are
kept under $CX_ARTIFACTS_DIR/screenshots (or the test's tmp dir)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import date, datetime
from pathlib import Path

import pytest

from conftest import ROOT, Pipeline, assert_run_succeeded, pipeline_env, uci_src
from cx.importers import uci

FIRST, LAST = date(2010, 12, 1), date(2010, 12, 2)  # a Wednesday and a Thursday: a daily run each
CHROMIUM = os.environ.get("CX_CHROMIUM", "/usr/bin/chromium")
USER = "admin"
UI_START_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _newcomer_env(root: Path, project: Path) -> dict[str, str]:
    """The acceptance env minus any virtualenv on PATH and this checkout's Airflow."""
    env = pipeline_env(root, AIRFLOW_HOME=str(project / ".airflow"))
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if "/.venv/bin" not in p and p)
    for key in ("VIRTUAL_ENV", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        env.pop(key, None)
    return env


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def runs_in_ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_in_ui")
    project = root / "proj"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(project)], check=True, timeout=300)
    assert (
        uci.main(["--src", str(uci_src()), "--out", str(root / "landing"), "--from", str(FIRST), "--to", str(LAST)])
        == 0
    )
    p = Pipeline(root, _newcomer_env(root, project), project=project)
    run = p.make_run(FIRST, LAST)
    assert_run_succeeded(run)
    walls = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"==> cx_daily (\S+)\n(?:.*\n)*?    ok in (\d+)s", run.output)
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = root / "make-airflow.log"
    with open(log, "w") as out:
        ui = subprocess.Popen(
            ["make", "--no-print-directory", "airflow"],
            cwd=project,
            env={**p.env, "AIRFLOW__API__PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + UI_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                if ui.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make airflow: no UI on port {port}:\n{log.read_text()[-3000:]}")
                time.sleep(2)
        banner = log.read_text()
        assert base.replace("127.0.0.1", "localhost") in banner or base in banner, banner[-2000:]
        named = re.search(r"(\S*simple_auth_manager_passwords\.json[\w.]*)", banner)
        assert named, f"make airflow does not say where the password is:\n{banner[-2000:]}"
        passwords = Path(named.group(1))
        deadline = time.monotonic() + 60
        while not passwords.is_file() and time.monotonic() < deadline:
            time.sleep(1)
        password = json.loads(passwords.read_text())[USER]
        shots = Path(os.environ.get("CX_ARTIFACTS_DIR") or root) / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        yield {"base": base, "walls": walls, "shots": shots, "password": password}
    finally:
        _stop(ui)


def _api(base: str, path: str, token: str | None = None, data: dict | None = None):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(data).encode() if data else None,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _runs(ui: dict) -> tuple[str, dict[str, dict]]:
    token = _api(ui["base"], "/auth/token", data={"username": USER, "password": ui["password"]})["access_token"]
    runs = _api(ui["base"], "/api/v2/dags/cx_daily/dagRuns?order_by=-start_date&limit=20", token)["dag_runs"]
    newest: dict[str, dict] = {}
    for r in runs:  # newest first: the run of each day this test made
        newest.setdefault(r["logical_date"][:10], r)
    return token, newest


def test_durations_in_airflow_match_the_wall_time(runs_in_ui):
    _, runs = _runs(runs_in_ui)
    for day, wall in runs_in_ui["walls"].items():
        r = runs[day]
        shown = (datetime.fromisoformat(r["end_date"]) - datetime.fromisoformat(r["start_date"])).total_seconds()
        assert abs(shown - wall) <= max(0.1 * wall, 1.0), (day, shown, wall)  # `ok in` is rounded to 1 s


def test_a_task_log_is_readable_in_the_ui(runs_in_ui):
    from playwright.sync_api import expect, sync_playwright

    token, runs = _runs(runs_in_ui)
    run_id = runs[str(LAST)]["dag_run_id"]
    quoted = urllib.parse.quote(run_id, safe="")
    logs = _api(
        runs_in_ui["base"],
        f"/api/v2/dags/cx_daily/dagRuns/{quoted}/taskInstances/publish/logs/1?full_content=true",
        token,
    )
    lines = [str(c.get("event", "")) for c in logs["content"]]
    assert any("[DAG TEST] starting task_id=publish " in line for line in lines), lines[:20]
    assert any(f"published rows for {LAST}" in line for line in lines)
    assert not any("starting task_id=" in line and "task_id=publish " not in line for line in lines)

    base = runs_in_ui["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/")
            page.wait_for_url(re.compile(r"/auth/login"))
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", runs_in_ui["password"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/", timeout=60_000)
            page.goto(f"{base}/dags/cx_daily/runs/{quoted}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(runs_in_ui["shots"] / "run_grid.png"), full_page=True)
            page.goto(f"{base}/dags/cx_daily/runs/{quoted}/tasks/publish")
            expect(page.get_by_text(f"published rows for {LAST}").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(runs_in_ui["shots"] / "publish_log.png"), full_page=True)
        finally:
            browser.close()

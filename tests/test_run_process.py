"""`cx run`'s process plumbing with real processes: kill -9 of the CLI (or of the
task running dbt) leaves no child holding the warehouse lock; two runs on one
warehouse take turns; make run never expands FROM/TO into shell text."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.dbt

ROOT = Path(__file__).resolve().parents[1]
DBT_LOCKED = ROOT / "include" / "cx" / "bin" / "dbt-locked"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its new parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _wait_file(path: Path, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def _lock_is_free(lock: Path) -> bool:
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


# A stand-in for the CLI: runs a long "dags test" child through run_tied, which starts
# a long "dbt" through dbt-locked (the real script), as Cosmos does: in a session of its own.
CLI = """
import sys
from pathlib import Path
from cx.runner.process import run_tied
out = Path(sys.argv[1])
with open(out / "log", "w") as log:
    run_tied([sys.executable, str(out / "task.py"), str(out), sys.argv[2]], log)
"""

TASK = """
import subprocess, sys, time
from pathlib import Path
out = Path(sys.argv[1])
dbt = subprocess.Popen([sys.argv[2], "build"], start_new_session=True)
(out / "dbt.pid").write_text(str(dbt.pid))
time.sleep(600)
"""

FAKE_DBT = '#!/bin/sh\necho "$$" > "$OUT/dbt.started"\nexec sleep 600\n'


def test_kill_9_of_the_cli_leaves_no_dbt_holding_the_warehouse_lock(tmp_path):
    fake_dbt = tmp_path / "fake-dbt"
    fake_dbt.write_text(FAKE_DBT)
    fake_dbt.chmod(0o755)
    (tmp_path / "task.py").write_text(TASK)
    warehouse = tmp_path / "cx.duckdb"
    env = {**os.environ, "CX_WAREHOUSE": str(warehouse), "CX_DBT_EXECUTABLE": str(fake_dbt), "OUT": str(tmp_path)}
    cli = subprocess.Popen([sys.executable, "-c", CLI, str(tmp_path), str(DBT_LOCKED)], env=env)
    try:
        dbt_pid = int(_wait_file(tmp_path / "dbt.pid"))
        assert int(_wait_file(tmp_path / "dbt.started")) == dbt_pid  # dbt-locked exec'd dbt: same process
        assert not _lock_is_free(Path(f"{warehouse}.lock"))  # dbt holds the writer lock
        cli.send_signal(signal.SIGKILL)
        cli.wait(timeout=10)
        assert _wait_gone(dbt_pid), "dbt outlived the killed CLI"
        assert _lock_is_free(Path(f"{warehouse}.lock"))
    finally:
        if cli.poll() is None:
            cli.kill()
        for name in ("dbt.pid",):
            pid_file = tmp_path / name
            if pid_file.exists() and _alive(int(pid_file.read_text())):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_dbt_locked_exits_75_on_lock_timeout(tmp_path):
    warehouse = tmp_path / "cx.duckdb"
    env = {**os.environ, "CX_WAREHOUSE": str(warehouse), "CX_DBT_EXECUTABLE": "true", "CX_LOCK_TIMEOUT_S": "0.5"}
    with open(f"{warehouse}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        blocked = subprocess.run([str(DBT_LOCKED), "build"], env=env, capture_output=True, text=True, timeout=30)
    from cx.errors import LOCK_TIMEOUT_EXIT

    assert blocked.returncode == LOCK_TIMEOUT_EXIT and "writer lock" in blocked.stderr
    free = subprocess.run([str(DBT_LOCKED), "--version"], env=env, capture_output=True, text=True, timeout=30)
    assert free.returncode == 0


def test_two_runs_on_one_warehouse_take_turns(tmp_path):
    """The second waits with a message naming the first, or refuses with --no-wait."""
    from cx.runner.process import exclusive

    lock = tmp_path / "cx.duckdb.run.lock"
    holder = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cx.runner.process import exclusive
        with exclusive(Path({str(lock)!r}), "the warehouse"):
            Path({str(tmp_path / "held")!r}).write_text("1")
            time.sleep(2)
    """)
    first = subprocess.Popen([sys.executable, "-c", holder])
    try:
        _wait_file(tmp_path / "held")
        with (
            pytest.raises(SystemExit, match="the warehouse is in use by pid"),
            exclusive(lock, "the warehouse", timeout_s=0),
        ):
            pass
        told: list[str] = []
        started = time.monotonic()
        with exclusive(lock, "the warehouse", notify=told.append, poll_s=0.1):
            waited = time.monotonic() - started
        assert waited > 1.0  # it got the lock once the first was done (it holds it for 2 s)
        assert first.wait(timeout=30) == 0
        assert len(told) == 1 and f"pid {first.pid}" in told[0]
    finally:
        first.kill()


def test_each_invocation_logs_to_its_own_file(tmp_path):
    from cx.runner.process import log_path

    assert log_path(tmp_path, "2024-01-01").name.endswith(f"_{os.getpid()}.log")


@pytest.mark.parametrize(
    "bad", ["2024-01-01; touch {marker}", "$(touch {marker})", "`touch {marker}`", "", "2024-13-45"]
)
def test_make_run_never_runs_user_text(tmp_path, bad):
    marker = tmp_path / "pwned"
    result = subprocess.run(
        ["make", "--no-print-directory", "run", f"FROM={bad.format(marker=marker)}", "TO=2024-01-02"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "FROM is not a valid YYYY-MM-DD date" in result.stderr
    assert not marker.exists()


def test_make_run_quotes_the_dates_and_inits_under_the_run_lock(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    dry = subprocess.run(
        ["make", "-n", "run", "FROM=2024-01-01", "TO=2024-01-03"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    ).stdout
    assert 'cx.cli run --die-with-parent --from "$FROM" --to "$TO"' in dry
    assert 'summary --as-of "$TO"' in dry
    assert 'flock "$lock" bash -c' in dry and "make --no-print-directory airflow-init" in dry  # cx.cli run's lock
    assert 'lock="$AIRFLOW_HOME/cx_run.lock"' in dry


def test_run_returns_when_the_child_exits_and_ends_what_it_left_holding_the_output(tmp_path):
    """A task's worker processes (joblib's) outlive the `dags test` process that started them
    and keep its output pipe open: the run must not wait for them, nor leave them running."""
    import subprocess as sp
    import time as clock

    from cx.runner.process import run_tied

    pid_file = tmp_path / "leftover.pid"
    child = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('run done', flush=True)\n"
    )
    began = clock.monotonic()
    with open(tmp_path / "run.log", "w") as log:
        assert run_tied([sys.executable, "-c", child], log, drain_s=2) == 0
    assert clock.monotonic() - began < 30
    assert "run done" in (tmp_path / "run.log").read_text()
    leftover = int(pid_file.read_text())
    clock.sleep(0.5)
    state = sp.run(["ps", "-o", "stat=", "-p", str(leftover)], capture_output=True, text=True).stdout.strip()
    assert state in ("", "Z"), state  # killed (gone, or a zombie awaiting its reaper)

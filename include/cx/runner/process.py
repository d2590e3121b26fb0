"""Process plumbing of `cx run`: an exclusive lock per warehouse (and per Airflow
metadata DB), a log file per invocation, and child processes that die with it."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies (PR_SET_PDEATHSIG;
    kept across exec). False where prctl is unavailable (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        die_with_parent(signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before the guard was set
            os._exit(1)

    return setup


def run_tied(
    command: Sequence[str], log: IO, env: dict[str, str] | None = None, split: bool = False, drain_s: float = 10.0
) -> int:
    """Run ``command`` with output to ``log``; the child is killed if this process dies
    (kill -9 of `make run` must not leave `dags test` and its dbt holding the warehouse).

    ``split``: the child is cx.runner.dagtest; each task's lines also go to the file
    its markers name (where Airflow's UI reads that task's log), as they come.

    The child runs in a process group of its own, ended once the child has exited: worker
    processes a task left behind (joblib's) would otherwise live on, holding the output pipe.
    """
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=_child_setup(os.getpid()),
        process_group=0,
    )
    splitter = TaskLogSplitter() if split else None
    assert process.stdout is not None
    stream = process.stdout

    def copy() -> None:
        for raw in stream:
            line = raw.decode(errors="replace")
            log.write(line)
            if splitter:
                splitter.feed(line)

    reader = threading.Thread(target=copy, name="run-output", daemon=True)
    reader.start()
    try:
        returncode = process.wait()
        reader.join(drain_s)
        return returncode
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # leftovers of the run, if any
        if process.poll() is None:
            process.wait()
        reader.join(drain_s)
        log.flush()
        if splitter:
            splitter.close()


class TaskLogSplitter:
    """Routes the lines between cx.runner.dagtest's markers to the file the start
    marker names: one file per task try, the one Airflow's log reader opens."""

    def __init__(self) -> None:
        self._file: IO | None = None
        self.written: list[Path] = []

    def feed(self, line: str) -> None:
        from cx.runner.dagtest import TASK_LOG_END, TASK_LOG_START

        text = line.rstrip("\n")
        if text.startswith(TASK_LOG_START):
            self.close()
            path = Path(text[len(TASK_LOG_START) :])
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", buffering=1)  # noqa: SIM115 -- kept open across lines; line-buffered: readable while the task runs
            self.written.append(path)
        elif text == TASK_LOG_END:
            self.close()
        elif self._file is not None:
            self._file.write(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@contextmanager
def exclusive(
    path: Path, what: str, notify: Callable[[str], None] = print, timeout_s: float | None = None, poll_s: float = 1.0
) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if needed) while the block runs.

    When another process holds it, say who (the holder writes its pid and command
    line into the file) and wait; ``timeout_s`` bounds the wait (None: forever, 0: refuse).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
                if timeout_s is not None and time.monotonic() - started >= timeout_s:
                    raise SystemExit(f"{what} is in use by {holder}; not started (lock {path})") from None
                if not told:
                    notify(f"    waiting: {what} is in use by {holder} (lock {path})")
                    told = True
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no stale holder for the next one to name
    finally:
        os.close(fd)  # closing releases the lock; the kernel does it too if we are killed


def log_path(log_dir: Path, run_date: object, dag_id: str = "cx_daily") -> Path:
    """A log file of its own per `dags test` invocation (two runs never share one)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{dag_id}_{run_date}_{stamp}_{os.getpid()}.log"

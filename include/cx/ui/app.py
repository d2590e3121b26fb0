"""The FastAPI app behind the "Customer Experience" item of the Airflow UI.

Airflow mounts plugin apps with ``app.mount()``, which inherits none of the core
API's authentication, so this app authenticates every route itself with Airflow's
own dependency: a request needs the session cookie (or bearer token) of a user the
auth manager lets read the runs of ``cx_daily``. Without one, a browser is sent to
Airflow's login page and anything else gets 401; a user without that permission
gets 403. Files (Data Docs, charts, dbt docs) are served through the same check.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cx.config import Settings, load_settings
from cx.ui import artifacts
from cx.ui.airflow_state import DAG_ID
from cx.ui.reader import Overview, UiConfig, Unavailable, read_overview
from cx.ui.render import render_docs_index, render_page

log = logging.getLogger(__name__)

# Only this server: the page has no scripts; Data Docs and dbt docs carry inline
# scripts of their own and reference CDNs, which stay blocked (no internet, no leaks).
PAGE_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'")

RunsProvider = Callable[[], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def airflow_authorization() -> Callable[..., Any]:
    """Airflow's dependency: an authenticated user allowed to read ``cx_daily``'s runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID)


def airflow_login_url(request: Request) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=str(request.url))


def airflow_runs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Recent cx_daily runs and the latest run's task states per stage."""
    from airflow.utils.session import create_session

    from cx.ui.airflow_state import recent_dag_runs, stage_task_states

    with create_session() as session:
        runs = recent_dag_runs(session)
        states = stage_task_states(session, runs[0]["run_id"]) if runs else []
    return runs, states


def create_app(
    *,
    authorize: Callable[..., Any] | None = None,
    login_url: Callable[[Request], str] = airflow_login_url,
    runs_provider: RunsProvider | None = airflow_runs,
    settings_loader: Callable[[], Settings] = load_settings,
    cfg: UiConfig = UiConfig(),
) -> FastAPI:
    """Build the app; tests pass their own ``authorize`` and ``runs_provider``."""
    guard = authorize if authorize is not None else airflow_authorization()
    app = FastAPI(
        title="cx Customer Experience",
        dependencies=[Depends(guard)],
        docs_url=None, redoc_url=None, openapi_url=None,  # no public schema of a private app
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_page:
            return RedirectResponse(login_url(request), status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "private, no-store")  # data behind a login
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if _is_docs(request) else PAGE_CSP)
        return response

    @app.get("/", response_class=HTMLResponse)
    def page(as_of: str | None = None) -> HTMLResponse:
        settings = settings_loader()
        day = _parse_day(as_of)
        result = read_overview(settings, day, cfg)
        overview = result if isinstance(result, Overview) else None
        error = result if isinstance(result, Unavailable) else None
        shown = overview.as_of if overview is not None else None
        runs, states, airflow_error = _runs(runs_provider)
        html = render_page(
            overview, error,
            charts=artifacts.forecast_charts(settings, shown) if shown else artifacts.Charts(None, (), None),
            data_docs=artifacts.data_docs_for(settings, shown) if shown else None,
            data_docs_days=artifacts.data_docs_days(settings),
            dbt_docs=artifacts.dbt_docs_root(settings) is not None,
            dag_runs=runs, stage_states=states, airflow_error=airflow_error,
            warehouse_name=settings.warehouse.name, dag_id=DAG_ID,
        )
        # A busy warehouse is a normal, retryable state: the page still renders.
        return HTMLResponse(html, status_code=200)

    @app.get("/data-docs/", response_class=HTMLResponse)
    def data_docs_home() -> HTMLResponse:
        return HTMLResponse(render_docs_index(artifacts.data_docs_days(settings_loader())))

    @app.get("/data-docs/{path:path}")
    def data_docs(path: str) -> FileResponse:
        return _file(artifacts.safe_file(settings_loader().data_docs_dir, path))

    @app.get("/charts/{day}/{name}")
    def chart(day: str, name: str) -> FileResponse:
        return _file(artifacts.chart_file(settings_loader(), day, name))

    @app.get("/dbt-docs/{path:path}")
    def dbt_docs(path: str) -> FileResponse:
        return _file(artifacts.dbt_docs_file(settings_loader(), path or "index.html"))

    return app


def _is_docs(request: Request) -> bool:
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    tail = path[len(root):] if root and path.startswith(root) else path
    return tail.startswith(("/data-docs/", "/dbt-docs/")) and tail != "/data-docs/"


def _parse_day(value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail="as_of must be a date like 2024-11-26") from None


def _file(path: Path | None) -> FileResponse:
    if path is None:
        raise HTTPException(status_code=404, detail="Not found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


def _runs(provider: RunsProvider | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    if provider is None:
        return [], [], None
    try:
        runs, states = provider()
        return runs, states, None
    except Exception as error:  # the page must render even if the metadata DB hiccups
        log.warning("customer experience page: Airflow run history unavailable: %s", error)
        return [], [], type(error).__name__

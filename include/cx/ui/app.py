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

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cx.config import Settings, load_settings
from cx.ui import artifacts, views
from cx.ui.airflow_state import DAG_ID
from cx.ui.reader import UiConfig, Unavailable
from cx.ui.render import render_docs_index, render_error, render_view
from cx.ui.sections.customer import valid_lookup

log = logging.getLogger(__name__)

# Only this server: the page has no scripts and its charts are inline SVG; Data Docs
# and dbt docs carry inline scripts of their own and reference CDNs, which stay
# blocked (no internet, no leaks).
PAGE_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'"
)

RunsProvider = Callable[[date], list[dict[str, Any]]]


class BadRequest(Exception):
    """A page request the page cannot answer (a malformed day): a 400 page, not JSON."""


def airflow_authorization() -> Callable[..., Any]:
    """Airflow's dependency: an authenticated user allowed to read ``cx_daily``'s runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID)


def airflow_login_url(request: Request) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=str(request.url))


def airflow_runs(day: date) -> list[dict[str, Any]]:
    """The day's cx_daily runs from Airflow's metadata database."""
    from airflow.utils.session import create_session

    from cx.ui.airflow_state import runs_on

    with create_session() as session:
        return runs_on(session, day)


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
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # no public schema of a private app
    )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_page:
            return RedirectResponse(login_url(request), status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> Response:
        return HTMLResponse(render_error(str(exc), _base(request), _root(request)), status_code=400)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "private, no-store")  # data behind a login
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if _is_docs(request) else PAGE_CSP)
        return response

    _add_pages(app, settings_loader, runs_provider, cfg)
    _add_files(app, settings_loader)
    return app


def _add_pages(
    app: FastAPI, settings_loader: Callable[[], Settings], runs_provider: RunsProvider | None, cfg: UiConfig
) -> None:
    """The page's views: each reads the warehouse once for the URL's day and renders."""

    def show(
        request: Request,
        view: str,
        as_of: str | None,
        collect: views.Collector,
        extra_query: dict[str, str] | None = None,
    ) -> HTMLResponse:
        settings = settings_loader()
        loaded = views.load(settings, _parse_day(as_of), collect, cfg)
        error = loaded if isinstance(loaded, Unavailable) else None
        ok = None if error else loaded
        day = ok.day if ok else None
        runs, airflow_error = _runs(runs_provider, day)
        html = render_view(
            view,
            ok,
            error,
            runs=runs,
            airflow_error=airflow_error,
            airflow_base=_base(request),
            app_root=_root(request),
            dag_id=DAG_ID,
            warehouse_name=settings.warehouse.name,
            data_docs=artifacts.data_docs_for(settings, day) if day else None,
            charts=artifacts.forecast_charts(settings, day) if day and view == "forecasts" else None,
            dbt_docs=artifacts.dbt_docs_root(settings) is not None,
            extra_query=extra_query,
        )
        return HTMLResponse(html)  # a busy warehouse is a normal, retryable state: still 200

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request, as_of: str | None = None) -> HTMLResponse:
        return show(request, "overview", as_of, views.VIEWS["overview"])

    # The lookup is a POST so the customer's id stays out of URLs, and so out of the API
    # server's access log and the browser's history; GET shows the empty form.
    @app.get("/customer", response_class=HTMLResponse)
    def customer_form(request: Request, as_of: str | None = None) -> HTMLResponse:
        return show(request, "customer", as_of, views.customer_view(None))

    @app.post("/customer", response_class=HTMLResponse)
    def customer_page(request: Request, as_of: str | None = None, q: str | None = Form(None)) -> HTMLResponse:
        key = (q or "").strip() or None
        if key is not None and not valid_lookup(key):
            raise BadRequest(
                "Look a customer up by their customer id or the e-mail hash (letters, digits, "
                "'-', '_', '.', ':'); never by an e-mail address or a name."
            )
        return show(request, "customer", as_of, views.customer_view(key))

    @app.get("/forecasts", response_class=HTMLResponse)
    def forecasts_page(
        request: Request, as_of: str | None = None, series: str | None = None, metric: str | None = None
    ) -> HTMLResponse:
        only = (series, metric) if series and metric else None
        return show(
            request,
            "forecast_chart" if only else "forecasts",
            as_of,
            views.forecast_view(only),
            {"series": series, "metric": metric} if only else None,
        )

    @app.get("/quality/check", response_class=HTMLResponse)
    def check_page(request: Request, suite: str, expectation: str, as_of: str | None = None) -> HTMLResponse:
        return show(
            request, "check", as_of, views.check_view(suite, expectation), {"suite": suite, "expectation": expectation}
        )

    for name in ("segments", "retention", "sentiment", "quality"):

        def page(request: Request, as_of: str | None = None, _name: str = name) -> HTMLResponse:
            return show(request, _name, as_of, views.VIEWS[_name])

        app.add_api_route(f"/{name}", page, methods=["GET"], response_class=HTMLResponse, name=name)


def _add_files(app: FastAPI, settings_loader: Callable[[], Settings]) -> None:
    """Files the page links to, each through :mod:`cx.ui.artifacts`' safe lookup."""

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


def _root(request: Request) -> str:
    """Where this app is mounted (``/cx``, or behind a prefix): the page's links start there."""
    return (request.scope.get("root_path", "") or "").rstrip("/")


def _base(request: Request) -> str:
    """The Airflow UI's base path: the mount's root path without this app's ``/cx``."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len("/cx")] if root.endswith("/cx") else root


def _is_docs(request: Request) -> bool:
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    tail = path[len(root) :] if root and path.startswith(root) else path
    return tail.startswith(("/data-docs/", "/dbt-docs/")) and tail != "/data-docs/"


def _parse_day(value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest("The day in the address (as_of) must be a date like 2024-11-26.") from None


def _file(path: Path | None) -> FileResponse:
    if path is None:
        raise HTTPException(status_code=404, detail="Not found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


def _runs(provider: RunsProvider | None, day: date | None) -> tuple[list[dict[str, Any]], str | None]:
    if provider is None or day is None:
        return [], None
    try:
        return provider(day), None
    except Exception as error:  # the page must render even if the metadata DB hiccups
        log.warning("customer experience page: Airflow run history unavailable: %s", type(error).__name__)
        return [], type(error).__name__

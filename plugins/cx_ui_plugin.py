"""Airflow plugin: the "Customer Experience" page in the Airflow UI.

A FastAPI app mounted by the API server under ``/cx`` (behind Airflow's login, see
``cx.ui.app``) and an external view that puts it in the UI's navigation, rendered
inside the UI. The app is built on its first request: every Airflow process loads
plugins (task processes too, for macros), and only the API server serves pages,
so the others never import the web stack for it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/cx"


class LazyCxApp:
    """ASGI app that builds ``cx.ui.app.create_app()`` on first use."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            from cx.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class CustomerExperiencePlugin(AirflowPlugin):
    name = "cx_customer_experience"
    fastapi_apps = [{"app": LazyCxApp(), "url_prefix": URL_PREFIX, "name": "Customer Experience"}]
    external_views = [
        {
            "name": "Customer Experience",
            # Relative to the UI's base URL, so it also works behind a path prefix.
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "customer-experience",
            "destination": "nav",
        }
    ]

"""The feedback API mounted beside the planner on the LangGraph API server (``langgraph.json``'s
``http.app``), so one ``langgraph dev`` serves the plan and the preference pairs that improve it.

Why not the whole runtime: it loads the base model into every server process at import; the
OpenAI-compatible runtime runs as ``rmn serve`` (README, "Clients"). Routes keep their own paths
(``/feedback/...``, ``/health`` is the API server's ``/ok``); the database is the configured one.
"""

from __future__ import annotations

from rmnlora.config import load_settings
from rmnlora.serving.app import create_feedback_app
from rmnlora.storage import open_db

# The API server documents its own routes at /docs and /openapi.json: this app must not shadow them.
_SERVER_OWNED = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}

settings = load_settings()
app = create_feedback_app(settings, open_db(settings))
app.router.routes = [route for route in app.router.routes if getattr(route, "path", "") not in _SERVER_OWNED]

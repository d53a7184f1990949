"""How the HTTP apps answer errors: OpenAI's shape under ``/v1``, FastAPI's ``{"detail": ...}``
elsewhere, and two corrections to what Starlette answers by itself.

Why the corrections: a body that is not UTF-8 JSON is Starlette's bare 400 "There was an error
parsing the body", which no route documents; it is a validation error like any other (422, with
the shape every route documents). And a 405 names in ``Allow`` only the methods of the first route
matching the path, so a path with a GET and a POST route told clients only one of them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rmnlora.serving.openai_errors import PREFIX, as_openai_error, as_openai_validation_error

_UNPARSABLE_BODY = "There was an error parsing the body"


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
    if request.url.path.startswith(PREFIX):
        return as_openai_error(exc)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": "the body is not UTF-8 JSON"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(PREFIX):
        return as_openai_validation_error(exc)
    return await request_validation_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

"""OpenAI's error shape for every answer under ``/v1``: ``{"error": {message, type, param, code}}``.

Why: the official clients turn that body and the status into typed exceptions
(``openai.NotFoundError``, ``openai.RateLimitError`` ...) that callers catch; FastAPI's
``{"detail": ...}`` would surface as a generic error with no message. Routes outside ``/v1``
keep the ``{"detail": ...}`` the rest of the API documents. Invalid requests under ``/v1`` are
400 (as OpenAI and vLLM answer them), not FastAPI's 422.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rmnlora.schemas.openai_api import OpenAIErrorBody

PREFIX = "/v1/"
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
    504: "timeout",
}
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


class OpenAIHTTPError(StarletteHTTPException):
    """An error with OpenAI's ``param`` and ``code`` set (``HTTPException`` gets defaults by status)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, message, headers=headers)
        self.param = param
        self.code = code


def error_body(
    status_code: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _TYPES.get(status_code, "server_error" if status_code >= 500 else "invalid_request_error")
    return {
        "error": {"message": message, "type": kind, "param": param, "code": code or _CODES.get(status_code)}
    }


def openai_error(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for an error in OpenAI's shape."""
    return {"model": OpenAIErrorBody, "description": description}


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"{param}: {message}{more}" if param else message + more), param


def as_openai_error(exc: StarletteHTTPException) -> Response:
    body = error_body(
        exc.status_code, str(exc.detail), param=getattr(exc, "param", None), code=getattr(exc, "code", None)
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def as_openai_validation_error(exc: RequestValidationError) -> Response:
    message, param = _validation_message(exc)
    return JSONResponse(error_body(400, message, param=param), status_code=400)

"""Numbers as JSON Schema means them: what the OpenAPI document says is what the server accepts.

Why: pydantic's lax mode reads ``true`` and ``"3"`` as numbers, which the schema calls invalid,
and its strict mode refuses ``89.0``, which JSON Schema calls an integer. These accept exactly
JSON numbers (an integer field: one with no fractional part) and refuse the rest with a message.
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {type(value).__name__}")
    return value


def _integer(value: Any) -> Any:
    value = _number(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number, not {value}")
        return int(value)
    return value


# Put last in an Annotated, after the Field with the bounds, so the schema shows the bounds:
# ``Annotated[int, Field(ge=1), JSON_INT]`` (before the Field, pydantic writes them as "ge"/"le").
JSON_INT = BeforeValidator(_integer)
JSON_NUMBER = BeforeValidator(_number)

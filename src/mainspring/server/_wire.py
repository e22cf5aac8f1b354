"""Reading requests off the wire, the same way on every edge (HTTP bodies and channel messages).

JSON is parsed by orjson before any model sees it: it refuses what the store could not keep (infinity
and NaN, integers beyond 64 bits, lone surrogates), so an accepted request can always be written and
read back. Models then check every field (see ``mainspring.api.fields``), and a refusal names the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from .._json import loads
from .._validation import validation_problem
from ..errors import InvalidArgumentError

__all__ = ["body_limit", "parse_body", "validate"]


def body_limit(max_payload: int) -> int:
    """The largest request body (or channel message) accepted: a few payloads plus their framing."""
    return 4 * max_payload + 65536


def parse_body(model: type[BaseModel], raw: bytes | str) -> Any:
    """``raw`` (JSON text) as an instance of ``model``, or InvalidArgumentError saying what is wrong."""
    if not raw.strip():
        raise InvalidArgumentError(
            "invalid request: the request body is empty; send a JSON object", code="invalid_argument"
        )
    try:
        data = loads(raw)
    except ValueError as e:
        raise InvalidArgumentError(
            f"invalid request: the body is not valid JSON ({e}); numbers must be finite and integers fit in 64 bits",
            code="invalid_argument",
        ) from None
    return validate(model, data, "invalid request")


def validate(model: type[BaseModel], data: Any, what: str) -> Any:
    """``data`` (parsed JSON) as an instance of ``model``; InvalidArgumentError naming the field if not."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidArgumentError(f"{what}: {validation_problem(e)}", code="invalid_argument") from None
    except RecursionError:
        raise InvalidArgumentError(f"{what}: the body is nested too deeply", code="invalid_argument") from None

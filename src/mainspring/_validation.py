"""One wording for "this input does not fit the type", used by the server and the worker alike.

The server checks a workflow's input at start against the JSON schema a worker announced; a worker
checks it again before running any workflow code. Both go through ``schema_error`` so the user sees
the same sentence whichever side caught the mistake.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from typing import TYPE_CHECKING, Any

from ._bounded_schema import MAX_PROBLEMS, bounded
from ._payload_mark import is_encoded as _is_encoded

if TYPE_CHECKING:
    from pydantic import ValidationError

log = logging.getLogger(__name__)

__all__ = ["NO_INPUT_SCHEMA", "describe_input_error", "schema_error", "schema_problem", "validation_problem"]

#: The schema announced by a workflow that takes no input.
NO_INPUT_SCHEMA: dict[str, Any] = {"type": "null"}

_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return _clip(text, 40)


def _clip(text: str, most: int) -> str:
    # jsonschema's messages quote the value checked, which may be megabytes long.
    return text if len(text) <= most else text[: most - 3] + "..."


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    import jsonschema  # imported on first use: it is only needed when an input is checked

    schema = json.loads(schema_text)
    return bounded(jsonschema.validators.validator_for(schema), schema_text)(schema)


#: id(schema) -> (schema, validator): the schema dicts a server checks against are long-lived (it
#: caches them per workflow type), so a start finds its validator without serialising the schema.
_by_identity: dict[int, tuple[dict[str, Any], Any]] = {}


def _validator_for(schema: dict[str, Any]) -> Any:
    hit = _by_identity.get(id(schema))
    if hit is not None and hit[0] is schema:  # holding the schema keeps its id from being reused
        return hit[1]
    validator = _validator(json.dumps(schema, sort_keys=True))
    if len(_by_identity) >= 256:
        _by_identity.clear()
    _by_identity[id(schema)] = (schema, validator)
    return validator


#: Schema (as sorted JSON text) -> its problem, for the schemas workers announced: every worker that
#: registers announces its workflows' schemas, the same ones each time, and checking one took 1.5-2.5
#: ms of the server's event loop (a worker with a dozen workflows held it ~15 ms at each registration).
_problems: dict[str, str | None] = {}


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` (announced by a worker) is not a JSON schema the server can check inputs against,
    or None if it is one."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        return "it must be a JSON object (a JSON schema) or null"
    try:
        key = json.dumps(schema, sort_keys=True)
    except RecursionError:
        return "it nests too deeply"
    if key in _problems:
        return _problems[key]
    problem = _check_schema(schema)
    if len(_problems) >= 1024:
        _problems.clear()
    _problems[key] = problem
    return problem


def _check_schema(schema: dict[str, Any]) -> str | None:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    # cls.check_schema(schema), with the costly keywords bounded: the schema is a worker's input too.
    meta_cls = _meta_validator(cls)
    try:
        error = next(meta_cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER).iter_errors(schema), None)
    except RecursionError:
        return "it nests too deeply"
    return None if error is None else f"it is not a valid JSON schema: {_clip(error.message, 200)}"


@functools.lru_cache(maxsize=16)
def _meta_validator(cls: Any) -> Any:
    """The bounded validator class for ``cls``'s meta-schema (one per draft of JSON schema: making one
    builds a class, ~1 ms)."""
    import jsonschema

    return bounded(jsonschema.validators.validator_for(cls.META_SCHEMA, default=cls), "")


def schema_error(instance: Any, schema: dict[str, Any]) -> str | None:
    """Return one line describing why ``instance`` does not fit ``schema``, or None if it fits (or if
    the schema cannot be evaluated: the worker checks the input again before running any code).

    A payload a codec encoded (``{"$payload": ...}``) fits every schema: it is opaque to the server, which
    cannot read it (encrypted with a key it never sees); the worker checks it once decoded."""
    if _is_encoded(instance):
        return None
    if schema == NO_INPUT_SCHEMA:
        return None if instance is None else f"this workflow takes no input, but got {_short(instance)}"
    import jsonschema
    import referencing.exceptions

    try:
        validator = _validator_for(schema)
        if validator.is_valid(instance):
            return None
        # At most MAX_PROBLEMS: a 2 MiB list of wrong items once made half a million problems (16 s and
        # 1.6 GB on the server's event loop).
        found = list(itertools.islice(validator.iter_errors(instance), MAX_PROBLEMS))
        errors = sorted(found, key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    except (
        RecursionError,
        referencing.exceptions.Unresolvable,
        jsonschema.exceptions.UnknownType,
        ValueError,
        TypeError,
        LookupError,
    ) as e:
        # e.g. a $ref the server cannot resolve: not the caller's mistake, so not a refusal.
        log.warning("could not check an input against its workflow's schema: %s: %s", type(e).__name__, e)
        return None
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    assert err is not None
    first = _describe(err)
    if len(errors) == 1:
        return first
    more = f"{len(errors) - 1}" if len(errors) < MAX_PROBLEMS else f"at least {len(errors) - 1}"
    return f"{first} (and {more} more problem(s))"


def _path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _describe(err: Any) -> str:
    parts = list(err.absolute_path)
    kind = err.validator
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else "?"
        return f"field '{_path([*parts, missing])}' is required"
    where = f"field '{_path(parts)}'" if parts else "the input"
    value = err.instance
    if kind == "type":
        expected = err.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_JSON_TYPES.get(n, n) for n in names)
        return f"{where} must be {wanted}, got {_JSON_TYPES[_json_type(value)]} ({_short(value)})"
    if kind in ("enum", "const"):
        allowed = err.validator_value if kind == "enum" else [err.validator_value]
        return f"{where} must be one of {', '.join(_short(a) for a in allowed)}, got {_short(value)}"
    return f"{where}: {_clip(err.message, 200)}"


def describe_input_error(workflow_type: str, problem: str) -> str:
    """The full message for a workflow input that does not fit."""
    return f"invalid input for workflow {workflow_type!r}: {problem}"


def validation_problem(err: ValidationError) -> str:
    """One line for a request that does not fit its model: the first problem, naming its field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if p != "body")
    message = first["msg"]
    if message.startswith("Value error, "):  # our own validators' messages are whole sentences
        message = message[len("Value error, ") :]
    extra = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    where = f"field '{loc}'" if loc else "the request body"
    return f"{where}: {message}{extra}"

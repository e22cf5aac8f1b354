"""JSON schema validators whose cost grows with the input, not with a caller's cleverness.

The server checks every workflow start against the schema its worker announced, on its event loop, so
no input may make a check slow. Three of jsonschema's keywords let one: ``pattern`` (and the patterns of
``patternProperties``) run Python's backtracking ``re``, where ``^(a+)+$`` against 35 characters never
finishes; ``uniqueItems`` compares objects pairwise, so a list of 30,000 objects sent to a workflow that
takes a ``set[int]`` held the server for minutes; and ``anyOf``/``oneOf`` collect every error of every
branch (an ``Optional[list[int]]`` sent half a million strings made half a million errors).

Here patterns run on the Rust regex engine pydantic uses (linear time), items are told apart by hashing,
and a branch's errors are collected up to ``MAX_PROBLEMS``. A pattern that engine cannot run (a
lookaround, a backreference) is not checked: checking less is safe, since the worker checks the input
again with pydantic before any workflow code runs.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import attrs
from pydantic_core import CoreConfig, SchemaError, SchemaValidator, core_schema

__all__ = ["MAX_PROBLEMS", "bounded"]

#: At most this many errors are collected of anything checked (see also ``_validation.schema_error``).
MAX_PROBLEMS = 50


def bounded(cls: Any, schema_text: str) -> Any:
    """The jsonschema validator class ``cls``, its costly keywords replaced, for the schema ``schema_text``."""
    import jsonschema

    keywords: dict[str, Any] = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": functools.partial(_additional_properties, cls.VALIDATORS["additionalProperties"]),
        "uniqueItems": _unique_items,
        "anyOf": _any_of,
        "oneOf": _one_of,
    }
    if "unevaluatedProperties" in cls.VALIDATORS and "patternProperties" in schema_text:
        # It matches patternProperties with ``re`` deep inside jsonschema; so rare a combination that
        # leaving it to the worker's check is simpler than redoing it.
        keywords["unevaluatedProperties"] = _unchecked
    extended = jsonschema.validators.extend(cls, keywords)
    init_fields = [(f.name, f.alias) for f in attrs.fields(extended) if f.init]

    def evolve(self: Any, **changes: Any) -> Any:
        # jsonschema picks the class of a subschema from its "$schema" (every part of the meta-schema has
        # one), which would put the original keywords back: a subschema is checked by this class.
        changes.setdefault("schema", self.schema)
        for name, alias in init_fields:
            changes.setdefault(alias, getattr(self, name))
        return extended(**changes)

    extended.evolve = evolve
    return extended


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> SchemaValidator | None:
    try:
        return SchemaValidator(core_schema.str_schema(pattern=pattern), CoreConfig(regex_engine="rust-regex"))
    except SchemaError:  # not a pattern the linear-time engine can run
        return None


def _search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` matches somewhere in ``text``; None if it cannot be checked in linear time."""
    regex = _regex(pattern)
    return None if regex is None else regex.isinstance_python(text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and _search(pattern, instance) is False:
        yield ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _checkable(patterns: dict[str, Any]) -> bool:
    return all(_regex(p) is not None for p in patterns)


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object") or not _checkable(patterns):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(original: Any, validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[Any]:
    patterns = schema.get("patternProperties")
    if not patterns or not validator.is_type(instance, "object"):
        yield from original(validator, allowed, instance, schema)
        return
    if not _checkable(patterns):
        return  # which keys are "additional" depends on patterns we cannot check
    # The keys the patterns match are not additional: name them as properties, so the original keyword
    # (and its messages) never runs a pattern itself.
    matched = {key: True for key in instance if any(_search(p, key) for p in patterns)}
    rest = {k: v for k, v in schema.items() if k != "patternProperties"}
    rest["properties"] = {**schema.get("properties", {}), **matched}
    yield from original(validator, allowed, instance, rest)


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if unique and validator.is_type(instance, "array") and len({_key(item) for item in instance}) < len(instance):
        yield ValidationError(f"{_short(instance)} has non-unique elements")


def _key(value: Any) -> Any:
    """A hashable form of a JSON value, equal for values JSON schema calls equal (1 and 1.0, not true and 1)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_key(item) for item in value))
    if isinstance(value, dict):
        return ("o", frozenset((k, _key(v)) for k, v in value.items()))
    return ("x", repr(value))


def _errors(validator: Any, instance: Any, subschema: Any, index: int) -> list[Any]:
    return list(itertools.islice(validator.descend(instance, subschema, schema_path=index), MAX_PROBLEMS))


def _any_of(validator: Any, subschemas: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    errors: list[Any] = []
    for index, subschema in enumerate(subschemas):
        found = _errors(validator, instance, subschema, index)
        if not found:
            return
        errors.extend(found)
    yield ValidationError(f"{_short(instance)} is not valid under any of the given schemas", context=errors)


def _one_of(validator: Any, subschemas: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    errors: list[Any] = []
    valid = [s for s in subschemas if validator.evolve(schema=s).is_valid(instance)]
    if not valid:
        for index, subschema in enumerate(subschemas):
            errors.extend(_errors(validator, instance, subschema, index))
        yield ValidationError(f"{_short(instance)} is not valid under any of the given schemas", context=errors)
    elif len(valid) > 1:
        yield ValidationError(f"{_short(instance)} is valid under more than one of the given schemas")


def _unchecked(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    return iter(())

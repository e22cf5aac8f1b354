"""Payload conversion: Python values <-> JSON, validated against the declared types.

Dataclasses, pydantic models, tuples, lists, dicts and primitives all work, by way of pydantic.
Decoding is strict in the JSON sense ("3" is not an int), so a value decoded by a worker means the
same as it does to the server's schema check.

Bytes have no JSON form, so they travel marked, as ``{"$bytes": "<base64>"}`` (the idea of Temporal's
``binary/plain`` payloads): ``b"\xde\xad"`` comes back as bytes whether the receiving side declared
``bytes`` or nothing at all. The mark is written for a bytes value at the top of a payload and inside
plain lists, tuples, sets and dicts; a ``bytes`` field of a dataclass or pydantic model travels as
pydantic writes it (UTF-8 text), and one that is not UTF-8 cannot be sent. A typed ``bytes`` accepts a
plain string too (its UTF-8 bytes), as it did before the mark existed. A dict whose only key is
``"$bytes"`` is therefore read as bytes.

A ``DataConverter`` with a ``payload_codec`` (encryption, compression: Temporal's ``PayloadCodec``)
encodes every payload the client and its workers send, as ``{"$payload": {"metadata": ..., "data": ...}}``
(see ``mainspring._codec``); the server stores and forwards it as it is. Temporal's recipe ports as it
is written: ``dataclasses.replace(mainspring.converter.default(), payload_codec=EncryptionCodec())``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import types
import typing
from typing import Annotated, Any

import orjson
import pydantic
import pydantic_core
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from ._json import dumps as _dumps
from ._payload import Payload, PayloadCodec, PayloadDecodeError
from ._payload_mark import PAYLOAD_KEY
from ._payload_mark import encoding_of as _encoding_of
from .errors import MainspringError as _MainspringError

__all__ = [
    "BYTES_KEY",
    "PAYLOAD_KEY",
    "DataConverter",
    "EncodedPayloadError",
    "Payload",
    "PayloadCodec",
    "PayloadDecodeError",
    "PayloadError",
    "decode",
    "default",
    "encode",
    "format_validation_error",
    "json_schema",
    "type_hints",
]

#: The key of the one-key object that carries bytes in JSON: ``{"$bytes": "<base64>"}``.
BYTES_KEY = "$bytes"


class PayloadError(_MainspringError):
    """A payload could not be converted to or from JSON; the message names the field."""


class EncodedPayloadError(_MainspringError):
    """A payload arrived encoded by a codec (``{"$payload": ...}``) where no codec is configured to decode it.

    Not a ``PayloadError``: in a worker it fails the workflow task (which is retried once the worker is
    given the codec) or the activity attempt, rather than the workflow, which did nothing wrong."""


@dataclasses.dataclass(frozen=True)
class DataConverter:
    """How payloads are converted: values to JSON (``encode``/``decode``), then, with ``payload_codec``,
    each payload through the codec (encryption, compression) before it leaves the process.

    Give it to ``Client.connect(data_converter=...)``; the workers built on that client use it too.
    """

    #: Transforms every payload on its way out and back (Temporal's ``PayloadCodec``); None: payloads
    #: travel as plain JSON.
    payload_codec: PayloadCodec | None = None
    #: With a ``payload_codec``: also move each failure's message, stack trace and exception details (its
    #: class's args and attributes) into a payload of its own, through the codec, as Temporal's
    #: ``DefaultFailureConverter(encode_common_attributes=True)`` does: the server sees "Encoded failure"
    #: (and the failure's type, kind and retry flags, which it acts on). Failures encoded so are decoded
    #: whatever this says, by any client or worker with the codec.
    encode_failure_attributes: bool = False

    #: The converter used when none is given (no codec).
    default: typing.ClassVar[DataConverter]


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """The default data converter (no codec), to ``dataclasses.replace`` with a ``payload_codec``."""
    return DataConverter.default


def _no_codec(data: Any) -> EncodedPayloadError:
    encoding = _encoding_of(data) or "unknown"
    return EncodedPayloadError(
        f"this payload is encoded (encoding {encoding!r}) and no payload codec is configured to decode it: "
        "connect the client (and the worker's client) with data_converter=DataConverter(payload_codec=...)"
    )


def _marked(data: bytes | bytearray | memoryview) -> dict[str, str]:
    return {BYTES_KEY: base64.b64encode(data).decode("ascii")}


def _unmark(data: Any) -> bytes | None:
    """The bytes ``data`` carries if it is a bytes mark, else None."""
    if type(data) is dict and len(data) == 1 and BYTES_KEY in data:
        text = data[BYTES_KEY]
        if isinstance(text, str):
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise PayloadError(f"'{BYTES_KEY}' must hold base64 text, got {text[:40]!r}") from None
    return None


_MARK_KEY_JSON = _dumps(BYTES_KEY)
_PLAIN_CONTAINERS = (list, tuple, dict, set, frozenset)


def _mark_bytes(value: Any) -> Any:
    # Only plain containers are walked: inside dataclasses and models pydantic writes the fields.
    if isinstance(value, bytes | bytearray | memoryview):
        return _marked(value)
    if isinstance(value, dict):
        return {k: _mark_bytes(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mark_bytes(v) for v in value]
    return value


class _FoundBytes(Exception):
    pass


def _probe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        raise _FoundBytes
    if isinstance(value, set | frozenset):
        return list(value)
    return None  # some other type orjson does not know: the probe only looks for bytes


def _has_bytes(value: Any) -> bool:
    # orjson walks the value in native code, several times faster than a walk in Python: payloads
    # are converted on every activity call and result, and almost none hold bytes.
    try:
        orjson.dumps(value, default=_probe, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as e:  # orjson wraps what default raised; or e.g. an integer over 64 bits
        return isinstance(e.__cause__, _FoundBytes) or _has_bytes_slow(value)
    return False


def _has_bytes_slow(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, dict):
        return any(_has_bytes_slow(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_bytes_slow(v) for v in value)
    return False


def _reject(value: Any) -> Any:
    raise _FoundBytes if isinstance(value, bytes | bytearray | memoryview) else TypeError


#: orjson hands dataclasses, datetimes and subclasses (str enums) to ``default`` with these, so the
#: fast path below takes only values that are plain JSON already, whose conversion is a copy.
_ONLY_PLAIN = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def encode(value: Any) -> Any:
    """A Python value as a JSON-compatible value (dicts, lists, strings, numbers, bools, None); bytes
    become ``{"$bytes": "<base64>"}``. Raises ``PayloadError`` naming the type of a value that has no
    JSON form."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if type(value) in (dict, list, tuple):
        # Plain JSON (the usual payload) is copied in native code, several times faster than pydantic's
        # conversion; the copy keeps later changes to the caller's value out of what was sent.
        try:
            return orjson.loads(orjson.dumps(value, default=_reject, option=_ONLY_PLAIN))
        except TypeError:  # not plain JSON (a dataclass, bytes, a big integer, ...): the full way below
            pass
    try:
        if isinstance(value, _PLAIN_CONTAINERS) and _has_bytes(value):
            value = _mark_bytes(value)
        elif isinstance(value, bytes | bytearray | memoryview):
            return _marked(value)
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as e:
        raise PayloadError(f"cannot convert {type(value).__name__} to JSON: {e}") from None
    except UnicodeDecodeError:  # bytes inside a dataclass or model, which pydantic writes as UTF-8
        raise PayloadError(
            f"cannot convert {type(value).__name__} to JSON: it holds bytes that are not UTF-8 text "
            "(bytes travel as bytes at the top of a payload or in lists and dicts, not in dataclass fields)"
        ) from None
    except (TypeError, ValueError, RecursionError) as e:
        raise PayloadError(f"cannot convert {type(value).__name__} to JSON: {e}") from None


def _bytes_in(data: Any) -> Any:
    if type(data) is dict:
        found = _unmark(data)
        if found is not None:
            return found
        return {k: _bytes_in(v) for k, v in data.items()}
    if type(data) is list:
        return [_bytes_in(v) for v in data]
    return data


def _to_bytes(data: Any) -> Any:
    found = _unmark(data)
    if found is not None:
        return found
    return data.encode() if isinstance(data, str) else data


#: ``bytes`` as decoded: a bytes mark, or a plain string (its UTF-8 bytes, as before marks existed).
_Bytes = Annotated[bytes, pydantic.BeforeValidator(_to_bytes)]


def _reading_marks(tp: Any) -> Any:
    """``tp`` with every ``bytes`` in its type arguments (``list[bytes]``, ``bytes | None``) reading marks."""
    if tp is bytes:
        return _Bytes
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is None or not args or origin in (typing.Literal, Annotated):
        return tp
    new = tuple(_reading_marks(a) for a in args)
    if new == args:
        return tp
    try:
        if origin in (typing.Union, types.UnionType):
            return typing.Union[new]  # noqa: UP007 (built from a tuple of types)
        return origin[new]
    except TypeError:
        return tp


@functools.lru_cache(maxsize=1024)
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(_reading_marks(tp))


def decode(data: Any, tp: Any) -> Any:
    """A JSON value as an instance of ``tp``; raises ``PayloadError`` naming the offending field, and
    ``EncodedPayloadError`` for a payload a codec encoded that nothing decoded."""
    if type(data) is dict and PAYLOAD_KEY in data and len(data) == 1:
        raise _no_codec(data)
    if tp is Any or tp is object or tp is None or (tp is type(None) and data is None):
        if isinstance(data, dict | list) and _MARK_KEY_JSON in _dumps(data):
            return _bytes_in(data)
        return data
    if type(data) is tp and (tp is str or tp is int or tp is bool):
        # What strict validation of a JSON string, integer or boolean as its own type gives: the value
        # itself. (The general path encodes the value to JSON and parses it again: ~4 ms for 1 MB of
        # ordinary text; for an int, a fifth of what replaying an activity's result costs.)
        return data
    try:
        adapter = _adapter(tp)
    except TypeError:  # unhashable or unknown annotation: pass the value through
        return data
    try:
        return adapter.validate_json(_dumps(data), strict=True)
    except pydantic.ValidationError as e:
        raise PayloadError(format_validation_error(e)) from None


def format_validation_error(err: pydantic.ValidationError) -> str:
    """One line for a validation error: its first problem, naming the field, and how many more there are."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "missing":
        text = f"field '{loc}' is required"
    elif loc:
        text = f"field '{loc}': {msg}"
    else:
        text = msg
    extra = err.error_count() - 1
    return text + (f" (and {extra} more problem(s))" if extra else "")


def json_schema(tp: Any) -> dict[str, Any] | None:
    """The JSON schema of ``tp``, or None if it has none (e.g. ``Any``)."""
    if tp is Any:
        return None
    try:
        schema: dict[str, Any] = _adapter(tp).json_schema(schema_generator=_MarkedBytesSchema)
    except (TypeError, pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError):
        return None
    return schema


class _MarkedBytesSchema(GenerateJsonSchema):
    """JSON schemas in which ``bytes`` is what ``encode`` writes: a bytes mark, or (as pydantic writes
    a dataclass field) a string."""

    def bytes_schema(self, schema: Any) -> JsonSchemaValue:
        mark = {
            "type": "object",
            "properties": {BYTES_KEY: {"type": "string", "contentEncoding": "base64"}},
            "required": [BYTES_KEY],
            "additionalProperties": False,
        }
        return {"anyOf": [mark, {"type": "string"}]}


def type_hints(fn: Any) -> dict[str, Any]:
    """The resolved annotations of a function (strings from ``from __future__ import annotations`` too)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return dict(getattr(fn, "__annotations__", {}))

"""Payload codecs on the wire: the walks that encode and decode whole messages (the mark is ``_payload_mark``).

With a ``PayloadCodec`` configured (``DataConverter(payload_codec=...)``), every payload value the SDK
sends becomes ``Payload(metadata={"encoding": b"json/plain"}, data=<its JSON>)``, goes through
``codec.encode``, and travels as one JSON object::

    {"$payload": {"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}}

(the shape of Temporal's codec-server protocol, inside a one-key object like the ``$bytes`` mark). The
server stores and forwards it untouched: it is opaque to it (no schema check, only the size limit).

The walks work on whole messages at the transport, so the converter, the workflow runtime and every
call site stay as they are: ``encode_body`` encodes the values of the payload fields of a request
(``PAYLOAD_FIELDS``; a failure's ``details`` list and a ``memo`` item by item); ``decode_body`` decodes
every mark anywhere in an answer (a poll's tasks, a history page, a description). Each walk sends all
the payloads of one message to the codec in one call. Without a codec neither walk runs.

``null`` is not encoded: "no value" is all it says, and the server reads an absent input as none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._json import dumps, loads
from ._payload import Payload, PayloadCodec
from ._payload_mark import PAYLOAD_KEY, CodecError, find_marks, is_encoded, payload_from_json, payload_json, to_wire
from .errors import MainspringError

__all__ = [
    "ENCODED_ATTRIBUTES",
    "ENCODED_FAILURE",
    "JSON_PLAIN",
    "PAYLOAD_FIELDS",
    "PAYLOAD_KEY",
    "CodecError",
    "RemoteCodec",
    "WireCodec",
]

#: The encoding of a payload before any codec: its value as JSON.
JSON_PLAIN = b"json/plain"
#: The request fields that hold a payload value. ``details`` holds a list of payloads in a failure and
#: one in a heartbeat or marker; ``memo`` is a dict of payloads.
PAYLOAD_FIELDS = frozenset({"input", "signal_input", "result", "details", "heartbeat_details", "memo"})
#: Request fields whose keys are the user's, not the API's, and hold no payload: not walked (a worker's JSON
#: schema of a dataclass with a field named ``result`` is a schema, not a result).
_NOT_WALKED = frozenset({"input_schema"})


#: The request fields that hold a failure (and a failure's ``cause``): with ``encode_failures``, their message,
#: stack and exception details travel in ``ENCODED_ATTRIBUTES``, a payload, and the message says this instead.
_FAILURE_FIELDS = frozenset({"failure", "cause"})
ENCODED_ATTRIBUTES = "encoded_attributes"
ENCODED_FAILURE = "Encoded failure"
#: What of a failure goes in that payload (Temporal's message and stack trace; here also the ``exception``
#: entry, whose args and attributes would repeat what the message says).
_HIDDEN = ("message", "stack", "exception")


class WireCodec:
    """A ``PayloadCodec`` applied to whole messages (what a client's transport holds when it has one).
    ``encode_failures``: also encode the common attributes of failures (``DataConverter
    .encode_failure_attributes``); they are decoded either way."""

    def __init__(self, codec: PayloadCodec, *, encode_failures: bool = False) -> None:
        self.codec = codec
        self.encode_failures = encode_failures

    async def encode_values(self, values: Sequence[Any]) -> list[Any]:
        """JSON values as ``$payload`` marks, in one call to the codec."""
        if not values:
            return []
        plain = [Payload(metadata={"encoding": JSON_PLAIN}, data=dumps(v)) for v in values]
        encoded = await self._run(self.codec.encode, plain)
        return [to_wire(p) for p in encoded]

    async def decode_values(self, marks: Sequence[Any]) -> list[Any]:
        """``$payload`` marks as the JSON values they carry, in one call to the codec."""
        if not marks:
            return []
        decoded = await self._run(self.codec.decode, [payload_from_json(m[PAYLOAD_KEY]) for m in marks])
        out: list[Any] = []
        for p in decoded:
            encoding = p.metadata.get("encoding", JSON_PLAIN)
            if encoding != JSON_PLAIN:
                raise CodecError(
                    f"the codec decoded a payload to encoding {encoding.decode(errors='replace')!r}, not json/plain: "
                    "is a codec missing from the chain?"
                )
            out.append(loads(p.data))
        return out

    async def _run(self, step: Any, payloads: list[Payload]) -> list[Payload]:
        try:
            result = list(await step(payloads))
        except MainspringError:
            raise
        except Exception as e:
            raise CodecError(f"the payload codec failed: {type(e).__name__}: {e}") from e
        if len(result) != len(payloads):
            raise CodecError(f"the payload codec returned {len(result)} payloads for {len(payloads)}")
        return result

    async def encode_body(self, body: Any) -> Any:
        """A copy of request ``body`` with the values of its payload fields encoded (``body`` is unchanged:
        the worker keeps its commands, clear, for the activities the server hands back eagerly)."""
        slots: list[tuple[Any, Any]] = []
        values: list[Any] = []
        copy = _copy_marking(body, slots, values, self.encode_failures)
        for (container, key), mark in zip(slots, await self.encode_values(values), strict=True):
            container[key] = mark
        return copy

    async def decode_body(self, body: Any) -> Any:
        """``body`` (a parsed answer, owned by the caller) with every mark in it decoded, in place."""
        slots: list[tuple[Any, Any]] = []
        find_marks(body, slots)
        if not slots:
            return body
        if is_encoded(body):
            return (await self.decode_values([body]))[0]
        for (container, key), value in zip(slots, await self.decode_values([c[k] for c, k in slots]), strict=True):
            container[key] = value
            if key == ENCODED_ATTRIBUTES and type(value) is dict and container.get("message") == ENCODED_FAILURE:
                # An encoded failure's attributes (``encode_failures``): back where they were.
                del container[key]
                container.update({k: value[k] for k in _HIDDEN if k in value})
        return body


def _copy_marking(value: Any, slots: list[tuple[Any, Any]], values: list[Any], failures: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if failures and k in _FAILURE_FIELDS and type(v) is dict and isinstance(v.get("message"), str):
                failure = out[k] = _copy_marking(v, slots, values, failures)
                if failure["message"] != ENCODED_FAILURE:  # (not twice)
                    hidden = {h: failure.pop(h) for h in _HIDDEN if h in failure}
                    failure["message"] = ENCODED_FAILURE
                    failure[ENCODED_ATTRIBUTES] = hidden
                    _slot(failure, ENCODED_ATTRIBUTES, hidden, slots, values)
            elif k in PAYLOAD_FIELDS and v is not None and not is_encoded(v):
                out[k] = v
                if k == "memo" and isinstance(v, dict):
                    out[k] = dict(v)
                    for mk, mv in v.items():
                        _slot(out[k], mk, mv, slots, values)
                elif k == "details" and isinstance(v, list):
                    out[k] = list(v)
                    for i, item in enumerate(v):
                        _slot(out[k], i, item, slots, values)
                else:
                    _slot(out, k, v, slots, values)
            elif k in _NOT_WALKED:
                out[k] = v
            else:
                out[k] = _copy_marking(v, slots, values, failures)
        return out
    if isinstance(value, list | tuple):
        return [_copy_marking(v, slots, values, failures) for v in value]
    return value


def _slot(container: Any, key: Any, value: Any, slots: list[tuple[Any, Any]], values: list[Any]) -> None:
    if value is not None and not is_encoded(value):
        slots.append((container, key))
        values.append(value)


class RemoteCodec(PayloadCodec):
    """A codec server's ``/encode`` and ``/decode`` (Temporal's codec-server protocol), as a ``PayloadCodec``:
    what the CLI decodes through, for users allowed to see clear text, without holding the keys itself."""

    def __init__(
        self, endpoint: str, *, namespace: str = "default", timeout: float = 10.0, api_key: str | None = None
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.namespace = namespace
        self.timeout = timeout
        #: Sent as ``Authorization: Bearer``: a codec server started with ``--auth-server`` lets only callers
        #: that server knows, with a role in the namespace, see clear text.
        self.api_key = api_key

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._post("encode", payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._post("decode", payloads)

    async def _post(self, what: str, payloads: Sequence[Payload]) -> list[Payload]:
        import aiohttp

        url = f"{self.endpoint}/{what}"
        body = {"payloads": [payload_json(p) for p in payloads]}
        headers = {"X-Namespace": self.namespace, "Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(url, data=dumps(body), headers=headers) as resp,
            ):
                raw = await resp.read()
                if resp.status != 200:
                    text = raw[:200].decode(errors="replace")
                    raise CodecError(f"the codec server at {url} answered {resp.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise CodecError(f"could not reach the codec server at {url}: {type(e).__name__}: {e}") from None
        try:
            answer = loads(raw)
            items = answer["payloads"]
        except (ValueError, TypeError, KeyError):
            raise CodecError(f"the codec server at {url} did not answer with {{'payloads': [...]}}") from None
        if not isinstance(items, list):
            raise CodecError(f"the codec server at {url} did not answer with a list of payloads")
        return [payload_from_json(p) for p in items]

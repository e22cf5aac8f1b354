"""How an activity's arguments travel: one payload per call, whatever the number of parameters.

An activity of at most one parameter gets that argument as the payload itself (as it always did, so
histories written before multi-argument activities replay the same); one of two or more gets a JSON
array of its arguments, in order, as long as at least its required ones. The workflow side encodes
(``encode_arguments``), the worker decodes (``decode_arguments``): both read the arity from the same
``ActivityDefinition``. A call by name cannot see the definition: there one ``arg`` (or ``args`` of
one value) is sent as itself, several as an array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ..converter import PayloadError, decode, encode
from ..errors import InvalidArgumentError
from ._definition import ActivityDefinition

__all__ = ["NO_ARG", "decode_arguments", "encode_arguments"]


class _NoArg:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no argument>"


#: The default of ``arg``: told apart from an explicit ``None``.
NO_ARG: Final[Any] = _NoArg()


def _values(name: str, arg: Any, args: Sequence[Any] | None) -> list[Any] | None:
    """The arguments of a call, or None when it passed neither ``arg`` nor ``args``."""
    if args is None:
        return None if arg is NO_ARG else [arg]
    if arg is not NO_ARG:
        raise TypeError(f"activity {name!r}: pass its argument as arg or its arguments as args=[...], not both")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(
            f"activity {name!r}: args must be a list of its arguments, got {type(args).__name__} "
            f"(for one argument: args=[value], or pass it as arg)"
        )
    return list(args)


def encode_arguments(name: str, d: ActivityDefinition | None, arg: Any, args: Sequence[Any] | None) -> Any:
    """The payload of a call of activity ``name`` (``d``: its definition, None for a call by name).

    TypeError for a number of arguments the activity does not take; InvalidArgumentError for an
    argument with no JSON form."""
    if args is None and d is not None and len(d.param_types) == 1:
        # The common call (one input, or none for an optional one), on every activity a workflow runs.
        try:
            return encode(None if arg is NO_ARG else arg)
        except PayloadError as e:
            raise InvalidArgumentError(f"the input of activity {name!r} cannot be sent: {e}") from None
    values = _values(name, arg, args)
    try:
        if d is None:
            if not values:
                return None
            return encode(values[0]) if len(values) == 1 else [encode(v) for v in values]
        given = len(values or [])
        if given > d.arg_count or (d.arg_count > 1 and given < d.required_params):
            want = str(d.arg_count) if d.required_params == d.arg_count else f"{d.required_params} to {d.arg_count}"
            raise TypeError(f"activity {name!r} takes {want} argument(s), got {given}")
        if d.arg_count == 0:
            return None
        if d.arg_count == 1:
            return encode(values[0]) if values else None
        return [encode(v) for v in values or []]
    except PayloadError as e:
        raise InvalidArgumentError(f"the input of activity {name!r} cannot be sent: {e}") from None


def decode_arguments(d: ActivityDefinition, payload: Any) -> list[Any]:
    """The arguments to call ``d``'s function with; PayloadError if ``payload`` does not fit them."""
    types = d.param_types
    if len(types) == 1:
        return [decode(payload, types[0])]
    if not types:
        return []
    if not isinstance(payload, list) or not d.required_params <= len(payload) <= d.arg_count:
        got = f"an array of {len(payload)}" if isinstance(payload, list) else f"a {type(payload).__name__}"
        raise PayloadError(
            f"it takes {d.required_params}-{d.arg_count} arguments, sent as a JSON array (args=[...]); got {got}"
        )
    return [decode(v, t) for v, t in zip(payload, d.param_types, strict=False)]

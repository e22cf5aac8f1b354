"""Search attributes and the memo, as workflow code sees and changes them (Temporal's
``workflow.upsert_search_attributes`` and ``workflow.upsert_memo``).

The run's values start as its WorkflowExecutionStarted records them (``search_attributes``, typed:
``{name: {"type", "value"}}``; ``memo``). ``ctx.upsert_search_attributes`` issues an
UpsertWorkflowSearchAttributes command and changes the values the code reads at once; ``ctx.upsert_memo`` a
ModifyWorkflowProperties command. Their events (UpsertWorkflowSearchAttributes, WorkflowPropertiesModified)
confirm the commands in replay, keyed by the names they change, so a replay issues them again and a history
whose upserts differ from the code's is non-determinism, named. The server checks each value against the
namespace's registry; one it refuses fails the workflow task, naming the attribute.

Registered with the replay (``_features``): the two command events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..common import TypedSearchAttributes, _from_wire, _to_wire
from ..converter import PayloadError, encode
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "started", "typed", "upsert", "upsert_memo"]

_CMD_UPSERT = CommandType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES.value
_CMD_MEMO = CommandType.MODIFY_WORKFLOW_PROPERTIES.value


def started(inst: WorkflowInstance, attrs: Mapping[str, Any]) -> None:
    """The run's values as its WorkflowExecutionStarted gives them."""
    inst._search_attributes = dict(attrs.get("search_attributes") or {})
    inst._memo = dict(attrs.get("memo") or {})


def typed(inst: WorkflowInstance) -> TypedSearchAttributes:
    return _from_wire(inst._search_attributes)


def _guess(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, datetime):
        return "Datetime"
    if isinstance(value, list | tuple):
        return "KeywordList"
    return "Keyword"


def upsert(inst: WorkflowInstance, updates: Any) -> None:
    """``ctx.upsert_search_attributes``: ``key.value_set(v)`` / ``key.value_unset()`` values, or a mapping of
    name to value (None unsets)."""
    if isinstance(updates, TypedSearchAttributes):
        raise TypeError("upsert_search_attributes takes updates (key.value_set(v), key.value_unset()) or a mapping")
    wire = _to_wire(updates, "upsert_search_attributes")
    if not wire:
        raise ValueError("upsert_search_attributes was given nothing to upsert")
    types: dict[str, str] = {}
    if not isinstance(updates, Mapping):
        types = {u.key.name: u.key.indexed_value_type.value for u in updates}
    current = inst._search_attributes
    for name, value in wire.items():
        if value is None:
            current.pop(name, None)
            continue
        type_name = types.get(name) or (current.get(name) or {}).get("type")
        if type_name is None:
            original = updates[name] if isinstance(updates, Mapping) else value
            type_name = _guess(original)
        current[name] = {"type": type_name, "value": value}
    inst._add_command({"type": _CMD_UPSERT, "search_attributes": wire}, (_CMD_UPSERT, *sorted(wire)))


def upsert_memo(inst: WorkflowInstance, values: Mapping[str, Any]) -> None:
    """``ctx.upsert_memo``: set each key given (None removes it)."""
    if not isinstance(values, Mapping) or not values:
        raise TypeError("upsert_memo takes a non-empty mapping of key to value (None removes a key)")
    wire: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"memo keys must be non-empty strings, got {key!r}")
        try:
            wire[key] = None if value is None else encode(value)
        except PayloadError as e:
            raise TypeError(f"memo value {key!r} cannot be sent: {e}") from None
    for key, value in wire.items():
        if value is None:
            inst._memo.pop(key, None)
        else:
            inst._memo[key] = value
    inst._add_command({"type": _CMD_MEMO, "upserted_memo": wire}, (_CMD_MEMO, *sorted(wire)))


EVENTS: dict[str, EventHandler] = {}

COMMAND_EVENTS = (
    CommandEvent(
        EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES.value,
        _CMD_UPSERT,
        lambda attrs: (_CMD_UPSERT, *sorted(attrs.get("search_attributes") or {})),
    ),
    CommandEvent(
        EventType.WORKFLOW_PROPERTIES_MODIFIED.value,
        _CMD_MEMO,
        lambda attrs: (_CMD_MEMO, *sorted(attrs.get("upserted_memo") or {})),
    ),
)

"""Typed search attributes, in the shape of Temporal's ``temporalio.common``.

A key names a search attribute and its type; its value type follows, so a type checker refuses a value of
another type for it::

    customer = SearchAttributeKey.for_keyword("CustomerId")
    await client.start_workflow(..., search_attributes=TypedSearchAttributes([SearchAttributePair(customer, "c-1")]))
    ctx.upsert_search_attributes([customer.value_set("c-2"), SearchAttributeKey.for_int("Items").value_unset()])

A plain ``dict`` of name to value (``{"CustomerId": "c-1"}``) does the same without the types. The server checks
every value against the attribute registered in the namespace (``mainspring operator search-attribute create``)
and refuses one unknown or of another type, naming it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

__all__ = [
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "SearchAttributeValues",
    "TypedSearchAttributes",
]

_T = TypeVar("_T")
_D = TypeVar("_D")


class SearchAttributeIndexedValueType(enum.Enum):
    """A search attribute's type (Temporal's names)."""

    TEXT = "Text"
    KEYWORD = "Keyword"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"
    KEYWORD_LIST = "KeywordList"


@dataclass(frozen=True)
class SearchAttributeKey(Generic[_T]):
    """A search attribute's name and type; its type parameter is the type of its values."""

    name: str
    indexed_value_type: SearchAttributeIndexedValueType

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.INT)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST)

    def value_set(self, value: _T) -> SearchAttributeUpdate[_T]:
        """An upsert that sets this attribute to ``value``."""
        return SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[_T]:
        """An upsert that removes this attribute from the run."""
        return SearchAttributeUpdate(self, None)


@dataclass(frozen=True)
class SearchAttributePair(Generic[_T]):
    """A key and its value."""

    key: SearchAttributeKey[_T]
    value: _T


@dataclass(frozen=True)
class SearchAttributeUpdate(Generic[_T]):
    """A key and the value to set it to (None: unset it), for ``ctx.upsert_search_attributes``."""

    key: SearchAttributeKey[_T]
    value: _T | None


class TypedSearchAttributes(Sequence[SearchAttributePair[Any]]):
    """A collection of typed search attributes: read a value with its key (``attrs[key]``, ``attrs.get(key)``)."""

    def __init__(self, search_attributes: Sequence[SearchAttributePair[Any]] = ()) -> None:
        names: set[str] = set()
        for pair in search_attributes:
            if not isinstance(pair, SearchAttributePair):
                raise TypeError(f"TypedSearchAttributes holds SearchAttributePair values, not {type(pair).__name__}")
            if pair.key.name in names:
                raise ValueError(f"search attribute {pair.key.name!r} is given twice")
            names.add(pair.key.name)
        self.search_attributes: tuple[SearchAttributePair[Any], ...] = tuple(search_attributes)

    empty: TypedSearchAttributes  # set below

    @overload
    def __getitem__(self, index: int) -> SearchAttributePair[Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SearchAttributePair[Any]]: ...
    @overload
    def __getitem__(self, index: SearchAttributeKey[_T]) -> _T: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, SearchAttributeKey):
            for pair in self.search_attributes:
                if pair.key == index:
                    return pair.value
            raise KeyError(index.name)
        return self.search_attributes[index]

    def __len__(self) -> int:
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair[Any]]:
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, SearchAttributeKey):
            return any(p.key == key for p in self.search_attributes)
        if isinstance(key, str):
            return any(p.key.name == key for p in self.search_attributes)
        return key in self.search_attributes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedSearchAttributes):
            return NotImplemented
        return {p.key: p.value for p in self} == {p.key: p.value for p in other}

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TypedSearchAttributes({list(self.search_attributes)!r})"

    @overload
    def get(self, key: SearchAttributeKey[_T]) -> _T | None: ...
    @overload
    def get(self, key: SearchAttributeKey[_T], default: _D) -> _T | _D: ...

    def get(self, key: SearchAttributeKey[Any], default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *updates: SearchAttributeUpdate[Any]) -> TypedSearchAttributes:
        """A copy with ``updates`` applied (an unset removes its key)."""
        by_name = {p.key.name: p for p in self.search_attributes}
        for u in updates:
            if u.value is None:
                by_name.pop(u.key.name, None)
            else:
                by_name[u.key.name] = SearchAttributePair(u.key, u.value)
        return TypedSearchAttributes(list(by_name.values()))

    def to_dict(self) -> dict[str, Any]:
        """Name -> plain value (a Datetime as a ``datetime``)."""
        return {p.key.name: p.value for p in self.search_attributes}


TypedSearchAttributes.empty = TypedSearchAttributes()

#: What ``search_attributes=`` takes: typed, or a plain mapping of name to value.
SearchAttributeValues = TypedSearchAttributes | Mapping[str, Any]


# --- to and from the wire (plain JSON; a datetime as RFC 3339 text) -----------------------------------------------


def _wire_value(name: str, kind: SearchAttributeIndexedValueType | None, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"search attribute {name!r}: a datetime must be aware (give it a tzinfo, e.g. UTC)")
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"search attribute {name!r}: a Double takes a finite number, not {value!r}")
    if isinstance(value, tuple | list):
        return list(value)
    if kind is SearchAttributeIndexedValueType.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_typed(key: SearchAttributeKey[Any], value: Any) -> None:
    """TypeError if ``value`` is not of the key's type (for callers without a type checker)."""
    if value is None:
        return
    k = SearchAttributeIndexedValueType
    kind = key.indexed_value_type
    ok = {
        k.TEXT: isinstance(value, str),
        k.KEYWORD: isinstance(value, str),
        k.INT: isinstance(value, int) and not isinstance(value, bool),
        k.DOUBLE: isinstance(value, int | float) and not isinstance(value, bool),
        k.BOOL: isinstance(value, bool),
        k.DATETIME: isinstance(value, datetime),
        k.KEYWORD_LIST: isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise TypeError(f"search attribute {key.name!r} is a {kind.value}; got {type(value).__name__} {value!r}")


def _to_wire(values: Any, what: str = "search_attributes") -> dict[str, Any]:
    """``search_attributes=`` (typed, or a mapping) or an upsert's updates, as the request's JSON object."""
    out: dict[str, Any] = {}
    if isinstance(values, TypedSearchAttributes):
        for pair in values:
            _check_typed(pair.key, pair.value)
            out[pair.key.name] = _wire_value(pair.key.name, pair.key.indexed_value_type, pair.value)
        return out
    if isinstance(values, Mapping):
        for name, value in values.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"{what}: names must be non-empty strings, got {name!r}")
            out[name] = _wire_value(name, None, value)
        return out
    if isinstance(values, Sequence) and not isinstance(values, str):
        for u in values:
            if not isinstance(u, SearchAttributeUpdate | SearchAttributePair):
                raise TypeError(f"{what}: a sequence holds SearchAttributeUpdate values (key.value_set(v)), not {u!r}")
            _check_typed(u.key, u.value)
            out[u.key.name] = _wire_value(u.key.name, u.key.indexed_value_type, u.value)
        return out
    raise TypeError(f"{what} takes TypedSearchAttributes or a mapping of name to value, not {type(values).__name__}")


_KINDS = {k.value: k for k in SearchAttributeIndexedValueType}


def _from_wire(typed: Mapping[str, Any] | None) -> TypedSearchAttributes:
    """Describe's ``{name: {"type", "value"}}`` as typed search attributes (a Datetime back to a ``datetime``)."""
    pairs: list[SearchAttributePair[Any]] = []
    for name, tv in (typed or {}).items():
        kind = _KINDS.get(tv.get("type", ""))
        if kind is None:
            continue
        value = tv.get("value")
        if kind is SearchAttributeIndexedValueType.DATETIME and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind is SearchAttributeIndexedValueType.KEYWORD_LIST and isinstance(value, list):
            value = list(value)
        pairs.append(SearchAttributePair(SearchAttributeKey(name, kind), value))
    return TypedSearchAttributes(pairs)

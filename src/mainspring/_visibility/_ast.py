"""The typed tree of a list filter (``WorkflowType = 'order' AND StartTime > '...' ORDER BY StartTime DESC``),
and the attributes it may name.

The parser (``_parser``) makes it and checks it against the attributes; the SQL compiler (``_sql``) reads it.
Values are already of their attribute's type (a ``WorkflowStatus``, an aware ``datetime``, a ``timedelta``), so
nothing after the parser converts or checks text.

Attributes are described by ``Attribute`` rows in a table (``BUILTIN``), not by code paths, so that custom search
attributes can be added later as more rows (with a column or a JSON path of their own) without a new parser.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.enums import WorkflowStatus

__all__ = [
    "BUILTIN",
    "MAX_QUERY_LENGTH",
    "STATUS_NAMES",
    "And",
    "Attribute",
    "Between",
    "Comparison",
    "Expr",
    "InList",
    "IsNull",
    "Kind",
    "Not",
    "Or",
    "OrderBy",
    "StartsWith",
    "Value",
    "VisibilityQuery",
]


#: The longest query taken, in characters.
MAX_QUERY_LENGTH = 4096


class Kind(enum.StrEnum):
    """What values an attribute holds, and so which operators and literals it takes."""

    KEYWORD = "Keyword"
    STATUS = "ExecutionStatus"
    DATETIME = "Datetime"
    DURATION = "Duration"
    # Custom search attributes' other types (``server.features.search_attributes``).
    TEXT = "Text"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    KEYWORD_LIST = "KeywordList"


@dataclass(frozen=True)
class Attribute:
    """One attribute a filter may name."""

    #: Its name in queries (Temporal's spelling).
    name: str
    kind: Kind
    #: The executions column it reads ("" for one computed from others: see ``_sql``).
    column: str
    #: True if a run may have no value (CloseTime while running): only then IS NULL can be true.
    nullable: bool = False
    #: True if ORDER BY may name it.
    orderable: bool = False
    #: A custom search attribute: its values are rows of ``search_attribute_values`` (``name`` its name there).
    custom: bool = False
    #: The name of its rows there when not ``name`` (``BuildId``, Temporal's ``BuildIds`` by another name).
    stored: str = ""

    @property
    def values_name(self) -> str:
        """The ``name`` of its rows in ``search_attribute_values`` (a custom attribute's)."""
        return self.stored or self.name


BUILTIN: Mapping[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("WorkflowType", Kind.KEYWORD, "workflow_type"),
        Attribute("WorkflowId", Kind.KEYWORD, "workflow_id"),
        Attribute("RunId", Kind.KEYWORD, "run_id"),
        Attribute("TaskQueue", Kind.KEYWORD, "task_queue"),
        Attribute("ExecutionStatus", Kind.STATUS, "status"),
        Attribute("StartTime", Kind.DATETIME, "start_time", orderable=True),
        Attribute("CloseTime", Kind.DATETIME, "close_time", nullable=True, orderable=True),
        Attribute("ExecutionDuration", Kind.DURATION, "", nullable=True),
    )
}

#: ExecutionStatus values as Temporal names them, for each of ours.
STATUS_NAMES: Mapping[WorkflowStatus, str] = {
    WorkflowStatus.RUNNING: "Running",
    WorkflowStatus.COMPLETED: "Completed",
    WorkflowStatus.FAILED: "Failed",
    WorkflowStatus.CANCELED: "Canceled",
    WorkflowStatus.TERMINATED: "Terminated",
    WorkflowStatus.TIMED_OUT: "TimedOut",
    WorkflowStatus.CONTINUED_AS_NEW: "ContinuedAsNew",
}

#: A literal, converted to its attribute's type by the parser.
Value = str | WorkflowStatus | datetime | timedelta | bool | int | float


@dataclass(frozen=True)
class Comparison:
    """``attribute op value``; ``op`` is one of = != < <= > >=."""

    attribute: Attribute
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    """``attribute [NOT] IN (v1, v2, ...)``."""

    attribute: Attribute
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    """``attribute [NOT] BETWEEN low AND high`` (both ends included, as in SQL)."""

    attribute: Attribute
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True)
class StartsWith:
    """``attribute [NOT] STARTS_WITH 'prefix'`` (keywords only)."""

    attribute: Attribute
    prefix: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """``attribute IS [NOT] NULL``."""

    attribute: Attribute
    negated: bool = False


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Comparison | InList | Between | StartsWith | IsNull | And | Or | Not


@dataclass(frozen=True)
class OrderBy:
    """``ORDER BY attribute ASC|DESC``; run ids (descending with it) break ties, so pages are stable."""

    attribute: Attribute
    descending: bool = True

    @property
    def is_default(self) -> bool:
        """StartTime DESC: the order of a listing without ORDER BY."""
        return self.attribute.name == "StartTime" and self.descending


@dataclass(frozen=True)
class VisibilityQuery:
    """A parsed, checked list filter. ``where`` None: every run."""

    where: Expr | None
    order_by: OrderBy
    #: The text it was parsed from (for messages).
    text: str = ""


DEFAULT_ORDER = OrderBy(BUILTIN["StartTime"], descending=True)

"""What ``Client.list_workflows`` returns: awaited, one page; iterated, every run, page after page.

    page = await client.list_workflows(workflow_type="Order", limit=50)          # one page (a WorkflowPage)
    async for wf in client.list_workflows(workflow_type="Order", limit=500):     # up to 500 runs, newest first
        print(wf.id, wf.run_id, wf.status)
    await Replayer(workflows=[Order]).replay_workflows(
        client.list_workflows(workflow_type="Order", limit=100).map_histories()  # Temporal's shape
    )

Iterating fetches the next page only when the runs of the one before are used up, so a loop that stops
early reads no more; ``limit`` caps the runs yielded (Temporal's meaning), ``page_size`` (at most 1,000)
the runs each page fetches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..api.enums import WorkflowStatus
from ..common import TypedSearchAttributes, _from_wire
from ._handle import WorkflowPage

if TYPE_CHECKING:
    from ..worker import WorkflowHistory

__all__ = [
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
]

#: The most runs one page of the server's list may hold.
_MOST_PER_PAGE = 1000
#: The page an `await` of a listing without a limit answers with.
_ONE_PAGE = 100


@dataclass(frozen=True)
class WorkflowExecution:
    """One run, as ``list_workflows`` lists it (Temporal's ``WorkflowExecution``)."""

    id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    namespace: str
    #: The server's answer for it, as JSON.
    raw: dict[str, Any] = field(repr=False)
    #: Its custom search attributes, typed (``typed_search_attributes[SearchAttributeKey.for_keyword("X")]``).
    typed_search_attributes: TypedSearchAttributes = field(default_factory=TypedSearchAttributes)
    #: The same, by name, as plain values (Datetime ones as ISO 8601 strings).
    search_attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, e: dict[str, Any]) -> WorkflowExecution:
        return cls(
            id=e["workflow_id"],
            run_id=e["run_id"],
            workflow_type=e["workflow_type"],
            task_queue=e["task_queue"],
            status=WorkflowStatus(e["status"]),
            start_time=datetime.fromisoformat(e["start_time"]),
            close_time=datetime.fromisoformat(e["close_time"]) if e.get("close_time") else None,
            history_length=e["history_length"],
            namespace=e.get("namespace", ""),
            raw=e,
            typed_search_attributes=_from_wire(e.get("search_attributes")),
            search_attributes={k: v.get("value") for k, v in (e.get("search_attributes") or {}).items()},
        )


@dataclass(frozen=True)
class WorkflowExecutionCountAggregationGroup:
    """One group of a count (Temporal's name): the runs whose grouped attributes have these values."""

    #: The group's values, one per grouped attribute: ``["Running"]`` for a count by ExecutionStatus.
    group_values: Sequence[str]
    count: int


@dataclass(frozen=True)
class WorkflowExecutionCount:
    """What ``Client.count_workflows`` returns (Temporal's shape): how many runs, and per group if asked."""

    count: int
    groups: Sequence[WorkflowExecutionCountAggregationGroup]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowExecutionCount:
        groups = [
            WorkflowExecutionCountAggregationGroup(list(g["group_values"]), int(g["count"]))
            for g in data.get("groups") or ()
        ]
        return cls(int(data["count"]), groups)


#: Fetches one page: (limit, page token) -> the page.
PageFetch = Callable[[int, str | None], Awaitable[WorkflowPage]]
#: Fetches a run's history events: (workflow id, run id) -> the events.
HistoryFetch = Callable[[str, str], Awaitable[list[dict[str, Any]]]]


class WorkflowExecutionAsyncIterator:
    """``await`` it for one page (``WorkflowPage``), or ``async for`` it for every run up to ``limit``."""

    def __init__(
        self,
        fetch: PageFetch,
        histories: HistoryFetch,
        limit: int | None,
        page_token: str | None,
        *,
        page_size: int = _MOST_PER_PAGE,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be 1 or more (or None: every run), got {limit}")
        if not 1 <= page_size <= _MOST_PER_PAGE:
            raise ValueError(f"page_size must be 1 to {_MOST_PER_PAGE}, got {page_size}")
        self._page_size = page_size
        self._fetch = fetch
        self._histories = histories
        #: How many runs ``async for`` yields at most (None: all); ``await`` takes one page of this many.
        self._limit = limit
        self._token = page_token
        self._buffer: deque[dict[str, Any]] = deque()
        self._yielded = 0
        self._done = False

    def __await__(self) -> Generator[Any, None, WorkflowPage]:
        most = _ONE_PAGE if self._limit is None else min(self._limit, _MOST_PER_PAGE)
        return self._fetch(most, self._token).__await__()

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        return self

    async def __anext__(self) -> WorkflowExecution:
        if self._limit is not None and self._yielded >= self._limit:
            raise StopAsyncIteration
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            most = self._page_size if self._limit is None else min(self._limit - self._yielded, self._page_size)
            page = await self._fetch(most, self._token)
            self._buffer = deque(page.executions)
            self._token = page.next_page_token
            self._done = self._token is None
        self._yielded += 1
        return WorkflowExecution.from_json(self._buffer.popleft())

    async def map_histories(self) -> AsyncIterator[WorkflowHistory]:
        """The history of each run listed, fetched one run at a time (for ``Replayer.replay_workflows``)."""
        from ..worker import WorkflowHistory  # the worker package is heavier; only this needs it

        async for wf in self:
            yield WorkflowHistory(wf.id, await self._histories(wf.id, wf.run_id), run_id=wf.run_id)

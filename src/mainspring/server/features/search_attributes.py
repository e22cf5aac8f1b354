"""Search attributes and the memo a workflow changes: Temporal's typed search attributes, end to end.

- **The registry.** Each namespace registers its custom attributes, a name and a type each (Keyword, Text, Int,
  Double, Bool, Datetime, KeywordList), in the store's ``search_attributes`` table (``operator search-attribute
  create|list|remove``). The built-ins (``_search_attributes.BUILTIN_TYPES``) are listed beside them, read-only.
  ``server start-dev`` registers Temporal's dev-server set (CustomKeywordField ...) in its namespaces. The
  registry is kept in memory too (every namespace's, read at start): a workflow task's commands are checked
  against it without I/O.
- **Values.** Given at the start (``StartWorkflowRequest.search_attributes``) or upserted by workflow code
  (the UpsertWorkflowSearchAttributes command and event), checked against the registry (400 naming the
  attribute: unknown, or not of its type), kept as the run's pending item of kind "sa" (``ExecutionState.
  search_attributes``: ``{"Name": ["Type", value]}``), which outlives the run's close. The store keeps a row per
  value beside it (``search_attribute_values``, filled by a trigger on that item), which list filters read
  (``storage._visibility_sql``). A chain of runs (continue-as-new, a retry) keeps them, as Temporal's does.
- **The memo** workflow code upserts is ``features.memo``'s; a run keeps it after its close and across a chain
  (here, with the attributes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ... import _search_attributes as sa
from ..._visibility._ast import BUILTIN, Attribute, Kind
from ...api import models as m
from ...api.enums import CommandType, EventType
from ...errors import AlreadyStartedError, InvalidArgumentError, NotFoundError
from .._state import MEMO, SEARCH_ATTRIBUTES
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._state import ExecutionState
    from .._transition import Transition

__all__ = ["KINDS", "SearchAttributes", "check_attributes", "describe", "note_build", "typed"]

log = logging.getLogger("mainspring.server")

typed = sa.typed


class SearchAttributes:
    """The registry of one engine, and what it gives runs (see the module's docstring)."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        #: namespace -> name -> type, of the custom attributes (every namespace's, read at start).
        self._registered: dict[str, dict[str, str]] = {}
        #: namespace -> what a list filter may name there (the built-ins and its custom ones).
        self._query: dict[str, Mapping[str, Attribute]] = {}
        self._reloading: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        core.features[SearchAttributes] = self
        core.on_finish(_keep)
        core.on_successor(_inherit)

    async def start(self, dev_namespaces: tuple[str, ...] = ()) -> None:
        """Read the registry; register the dev-server set in ``dev_namespaces`` (``server start-dev``)."""
        for ns in dev_namespaces:
            for name, type_name in sa.DEV_SERVER_ATTRIBUTES.items():
                await self.core.store.add_search_attribute(ns, name, type_name, self.core.clock.now())
        await self.reload(None)

    def query_attributes(self, namespace: str) -> Mapping[str, Attribute]:
        """What a list filter in ``namespace`` may name: the built-ins, and the custom attributes as more rows."""
        found = self._query.get(namespace)
        if found is None:
            found = self._query[namespace] = custom_attributes(self.registered(namespace))
        return found

    async def reload(self, namespace: str | None) -> None:
        rows = await self.core.store.list_search_attributes(namespace)
        self._query.clear()
        if namespace is None:
            self._registered = {}
        else:
            self._registered[namespace] = {}
        for ns, name, type_name in rows:
            self._registered.setdefault(ns, {})[name] = type_name

    def reload_soon(self, namespace: str) -> None:
        """``reload`` in the background (from code that cannot wait: a workflow task's command checks)."""
        if namespace in self._reloading:
            return
        self._reloading.add(namespace)

        async def reload() -> None:
            try:
                await self.reload(namespace)
            except Exception:  # the store is unavailable: the next refusal asks again
                log.debug("could not read the search attributes of %s", namespace, exc_info=True)
            finally:
                self._reloading.discard(namespace)

        self._tasks.add(task := asyncio.get_running_loop().create_task(reload()))
        task.add_done_callback(self._tasks.discard)

    def registered(self, namespace: str) -> dict[str, str]:
        return self._registered.get(namespace, {})

    # --- the operations ---------------------------------------------------------------------------------

    async def create(self, namespace: str, name: str, type_name: str) -> dict[str, Any]:
        problem = sa.check_name(name)
        if problem:
            raise InvalidArgumentError(problem, code="invalid_search_attribute")
        if name in sa.BUILTIN_TYPES:
            raise InvalidArgumentError(
                f"search attribute {name!r} is built in (of type {sa.BUILTIN_TYPES[name]}): pick another name",
                code="invalid_search_attribute",
            )
        await self.reload(namespace)
        if name not in self.registered(namespace) and len(self.registered(namespace)) >= sa.MAX_CUSTOM_PER_NAMESPACE:
            raise InvalidArgumentError(
                f"namespace {namespace!r} has {sa.MAX_CUSTOM_PER_NAMESPACE} custom search attributes, the most it "
                f"may have; remove one to add {name!r}",
                code="invalid_search_attribute",
            )
        had = await self.core.store.add_search_attribute(namespace, name, type_name, self.core.clock.now())
        await self.reload(namespace)
        if had is not None:
            if had != type_name:
                raise AlreadyStartedError(
                    f"search attribute {name!r} is registered already with type {had}, not {type_name}: a type "
                    "cannot be changed (remove it first)",
                    code="search_attribute_exists",
                )
            raise AlreadyStartedError(
                f"search attribute {name!r} is registered already (type {had})", code="search_attribute_exists"
            )
        return {"name": name, "type": type_name, "builtin": False}

    async def list_all(self, namespace: str) -> dict[str, Any]:
        await self.reload(namespace)
        out = [{"name": n, "type": t, "builtin": True} for n, t in sa.BUILTIN_TYPES.items()]
        out += [{"name": n, "type": t, "builtin": False} for n, t in sorted(self.registered(namespace).items())]
        return {"search_attributes": out}

    async def remove(self, namespace: str, name: str) -> dict[str, Any]:
        if name in sa.BUILTIN_TYPES:
            raise InvalidArgumentError(
                f"search attribute {name!r} is built in: it cannot be removed", code="invalid_search_attribute"
            )
        removed = await self.core.store.remove_search_attribute(namespace, name)
        await self.reload(namespace)
        if not removed:
            raise NotFoundError(
                f"search attribute {name!r} is not registered in namespace {namespace!r}",
                code="search_attribute_not_found",
            )
        return {"ok": True}

    # --- values -----------------------------------------------------------------------------------------

    async def at_start(self, namespace: str, values: dict[str, Any] | None) -> dict[str, list[Any]] | None:
        """The stored form of a start's attributes (None for none); 400 naming the attribute at fault."""
        if not values:
            return None
        registered = self.registered(namespace)
        if any(name not in registered for name in values):
            await self.reload(namespace)  # registered by another server since
            registered = self.registered(namespace)
        return self.stored_at_start(namespace, values)

    def stored_at_start(self, namespace: str, values: dict[str, Any]) -> dict[str, list[Any]]:
        """``at_start`` from the registry in memory (read again by ``at_start`` first)."""
        try:
            checked = sa.check_values(self.registered(namespace), values)
        except ValueError as e:
            raise InvalidArgumentError(str(e), code="invalid_search_attribute") from None
        return {k: v for k, v in checked.items() if v is not None}


_KINDS = {
    "Keyword": Kind.KEYWORD,
    "Text": Kind.TEXT,
    "Int": Kind.INT,
    "Double": Kind.DOUBLE,
    "Bool": Kind.BOOL,
    "Datetime": Kind.DATETIME,
    "KeywordList": Kind.KEYWORD_LIST,
}


#: The built-ins kept among a run's values (``sa.SYSTEM_VALUES``), read as custom ones are; ``BuildId`` is
#: ``BuildIds`` (any build that ran the run's workflow tasks) by the name describe's field has.
_SYSTEM: Mapping[str, Attribute] = {
    a.name: a
    for a in (
        Attribute(sa.BUILD_IDS, Kind.KEYWORD_LIST, "", nullable=True, custom=True),
        Attribute("BuildId", Kind.KEYWORD_LIST, "", nullable=True, custom=True, stored=sa.BUILD_IDS),
        Attribute(sa.SCHEDULED_BY_ID, Kind.KEYWORD, "", nullable=True, orderable=True, custom=True),
        Attribute(sa.SCHEDULED_START_TIME, Kind.DATETIME, "", nullable=True, orderable=True, custom=True),
    )
}


def custom_attributes(registered: Mapping[str, str]) -> Mapping[str, Attribute]:
    """The built-in attributes of list filters and the custom ones (``Attribute.custom``: read from the store's
    ``search_attribute_values``, see ``storage._visibility_sql``)."""
    out: dict[str, Attribute] = dict(BUILTIN)
    out.update(_SYSTEM)
    for name, type_name in registered.items():
        kind = _KINDS[type_name]
        orderable = kind not in (Kind.TEXT, Kind.KEYWORD_LIST)
        out[name] = Attribute(name, kind, "", nullable=True, orderable=orderable, custom=True)
    return out


def note_build(st: ExecutionState, build_id: str) -> None:
    """A workflow task of the run was completed by a worker of ``build_id``: it joins the run's ``BuildIds``
    (written with the task's completion, so ``BuildId = 'x'`` finds the run once that is durable)."""
    current = st.search_attributes or {}
    builds = list((current.get(sa.BUILD_IDS) or ["KeywordList", []])[1])
    if build_id in builds or len(builds) >= sa.MAX_LIST_LENGTH:
        return
    builds.append(build_id)
    st.search_attributes = {**current, sa.BUILD_IDS: ["KeywordList", builds]}
    st.dirty.add((SEARCH_ATTRIBUTES, ""))


def give(t: Transition, stored: dict[str, list[Any]] | None) -> None:
    """A new run's attributes (``SearchAttributes.at_start``), written with its creation."""
    if stored:
        st = t.ex.state
        st.search_attributes = dict(stored)
        st.dirty.add((SEARCH_ATTRIBUTES, ""))


def _keep(t: Transition) -> None:
    """The run closed in this transition: its attributes and memo outlive the delete of its items."""
    st = t.ex.state
    if st.cleared:
        if st.search_attributes is not None:
            st.dirty.add((SEARCH_ATTRIBUTES, ""))
        if st.memo is not None:
            st.dirty.add((MEMO, ""))


def _inherit(t: Transition, nt: Transition, started: dict[str, Any]) -> None:
    """The next run of a chain keeps the attributes and the memo (as Temporal's does); not the builds that ran
    this one (the next run's are its own)."""
    st, nst = t.ex.state, nt.ex.state
    kept = {k: v for k, v in (st.search_attributes or {}).items() if k != sa.BUILD_IDS}
    if kept:
        nst.search_attributes = kept
        nst.dirty.add((SEARCH_ATTRIBUTES, ""))
        started["search_attributes"] = sa.typed(kept)
    if st.memo is not None:
        nst.memo = dict(st.memo)
        nst.dirty.add((MEMO, ""))
        started["memo"] = st.memo


def listed(raw: str) -> dict[str, Any]:
    """A listing's view of a run's stored attributes (the JSON of its "sa" item): typed, as describe shows
    them; an item that does not read is shown as none (describe says what is wrong with the run)."""
    try:
        stored = json.loads(raw)
    except ValueError:
        return {}
    return sa.typed(stored) if isinstance(stored, dict) else {}


def describe(
    stored: dict[str, list[Any]], memo: dict[str, Any] | None, started_memo: dict[str, Any] | None
) -> dict[str, Any]:
    """What describe shows: the memo (as upserted, else the start's) and the attributes, typed."""
    return {"memo": memo if memo is not None else started_memo, "search_attributes": sa.typed(stored)}


# --- the commands -------------------------------------------------------------------------------------------


def check_attributes(check: CommandCheck, values: dict[str, Any], *, unset: bool = False) -> str | None:
    """Why a command's search attributes are refused (unknown, of another type), or None."""
    feature = check.core.feature(SearchAttributes)
    namespace = check.ex.record.namespace
    registered = feature.registered(namespace)
    try:
        sa.check_values(registered, values, unset=unset)
    except ValueError as e:
        if any(name not in registered for name in values):
            # Registered by another server since this one read the registry? Read it again, for the task's retry.
            feature.reload_soon(namespace)
        return str(e)
    return None


def _validate_upsert(check: CommandCheck, cmd: m.UpsertWorkflowSearchAttributesCommand) -> str | None:
    if not cmd.search_attributes:
        return "it upserts no search attribute"
    return check_attributes(check, cmd.search_attributes, unset=True)


def _apply_upsert(t: Transition, cmd: m.UpsertWorkflowSearchAttributesCommand, completed_id: int) -> None:
    assert cmd.search_attributes
    registered = t.core.feature(SearchAttributes).registered(t.ex.record.namespace)
    checked = sa.check_values(registered, cmd.search_attributes, unset=True)
    t.append(
        EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        {"search_attributes": cmd.search_attributes, "workflow_task_completed_event_id": completed_id},
    )
    st = t.ex.state
    current = dict(st.search_attributes or {})
    for name, pair in checked.items():
        if pair is None:
            current.pop(name, None)
        else:
            current[name] = pair
    st.search_attributes = current
    st.dirty.add((SEARCH_ATTRIBUTES, ""))


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(
        CommandType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        m.UpsertWorkflowSearchAttributesCommand,
        _validate_upsert,
        _apply_upsert,
    ),
)

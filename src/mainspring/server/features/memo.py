"""The memo workflow code changes: the ModifyWorkflowProperties command (``ctx.upsert_memo``), Temporal's.

The memo is set at the start (``features.run_options``, kept in the start event and the run's lifetime). Each key
an upsert gives is set (null removes it); the event is WorkflowPropertiesModified (``upserted_memo``), and the
whole memo is then the run's pending item of kind "mo" (``ExecutionState.memo``), which describe shows instead of
the start's. It outlives the run's close and is carried to the next run of a chain (``features.search_attributes``
keeps and carries both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType
from .._state import MEMO
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._transition import Transition

__all__ = ["KINDS"]


def _validate_memo(check: CommandCheck, cmd: m.ModifyWorkflowPropertiesCommand) -> str | None:
    if not cmd.upserted_memo:
        return "it upserts no memo key"
    return check.core._payload_problem("the upserted memo", cmd.upserted_memo)


def _apply_memo(t: Transition, cmd: m.ModifyWorkflowPropertiesCommand, completed_id: int) -> None:
    assert cmd.upserted_memo
    t.append(
        EventType.WORKFLOW_PROPERTIES_MODIFIED,
        {"upserted_memo": cmd.upserted_memo, "workflow_task_completed_event_id": completed_id},
    )
    st = t.ex.state
    base = st.memo if st.memo is not None else (st.lifetime or {}).get("memo")
    memo = dict(base or {})
    for key, value in cmd.upserted_memo.items():
        if value is None:
            memo.pop(key, None)
        else:
            memo[key] = value
    st.memo = memo
    st.dirty.add((MEMO, ""))


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.MODIFY_WORKFLOW_PROPERTIES, m.ModifyWorkflowPropertiesCommand, _validate_memo, _apply_memo),
)

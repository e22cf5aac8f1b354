"""The start options a workflow start and a signal-with-start share (each request model lists them as
fields of its own): the id policies, a start delay, a memo, the run's workflow task timeout.

Declared once here, so the two requests, the OpenAPI document and the server's checks agree. Their meaning
is the server's (``server.features.start_policies``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .enums import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from .fields import MAX_SECONDS
from .names import MAX_ID_LENGTH, MAX_MEMO_KEYS, MAX_TASK_TIMEOUT, MIN_TASK_TIMEOUT

__all__ = [
    "MAX_MEMO_KEYS",
    "MAX_TASK_TIMEOUT",
    "MIN_TASK_TIMEOUT",
    "IdConflictPolicyField",
    "IdReusePolicyField",
    "MemoField",
    "StartDelayField",
    "TaskTimeoutField",
]

IdReusePolicyField = Annotated[
    WorkflowIDReusePolicy,
    Field(
        description="Whether a new run may start when the workflow id's last run has closed: ALLOW_DUPLICATE "
        "(default), ALLOW_DUPLICATE_FAILED_ONLY (only if it did not complete successfully), REJECT_DUPLICATE "
        "(never), TERMINATE_IF_RUNNING (also terminate a running one, then start)."
    ),
]
IdConflictPolicyField = Annotated[
    WorkflowIDConflictPolicy | None,
    Field(
        description="What to do when a run of the workflow id is running: FAIL (409 already_started; the "
        "default of a start), USE_EXISTING (answer that run; the default of a signal-with-start), "
        "TERMINATE_EXISTING (terminate it, then start)."
    ),
]
StartDelayField = Annotated[
    float | None,
    Field(
        ge=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        strict=True,  # a number: not false, nor "5" (the published schema says so)
        description="Seconds to wait before the run's first workflow task is dispatched (the run exists at once; "
        "a signal-with-start during the delay ends it). Omit for none.",
    ),
]
MemoField = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)], Any] | None,
    Field(
        max_length=MAX_MEMO_KEYS,
        description="Information about the run, not indexed: a JSON object kept with its start event and shown "
        "by describe. Bounded like the input (--max-payload-size).",
    ),
]
TaskTimeoutField = Annotated[
    float | None,
    Field(
        ge=MIN_TASK_TIMEOUT,
        le=MAX_TASK_TIMEOUT,
        allow_inf_nan=False,
        strict=True,
        description=f"Seconds a worker has to complete one workflow task of the run before it is retried "
        f"({MIN_TASK_TIMEOUT:g} to {MAX_TASK_TIMEOUT:g}; the server's default, 10 s, when omitted).",
    ),
]

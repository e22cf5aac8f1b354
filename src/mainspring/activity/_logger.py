"""``activity.logger``: a logger that says which activity attempt each record comes from."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from ._context import _current

__all__ = ["ActivityLoggerAdapter", "logger"]


class ActivityLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each message with the running activity (its type, id, attempt and workflow) and puts
    the same in the record's ``extra`` as ``mainspring_activity`` (a dict), for structured handlers.
    Outside an activity it logs the message as it is."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        running = _current.get()
        if running is None:
            return msg, kwargs
        info = running.info
        fields = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "namespace": info.namespace,
            "task_queue": info.task_queue,
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
            "workflow_type": info.workflow_type,
        }
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("mainspring_activity", fields)
        kwargs["extra"] = extra
        return (
            f"[{info.activity_type} {info.activity_id} attempt {info.attempt} of {info.workflow_type} "
            f"{info.workflow_id}] {msg}",
            kwargs,
        )


#: Log from activity code with this: each record names the activity attempt it comes from.
logger = ActivityLoggerAdapter(logging.getLogger("mainspring.activity"))

"""``Worker(workflow_failure_exception_types=...)``: exception types that fail every workflow of a worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..workflow import WorkflowDefinition
from ..workflow._definition import _failure_types

__all__ = ["with_failure_types"]


def with_failure_types(
    workflows: dict[str, WorkflowDefinition], types: Sequence[type[Exception]]
) -> dict[str, WorkflowDefinition]:
    """The worker's own copies of its workflows' definitions, each failing on ``types`` too (besides its
    ``@workflow.defn(failure_exception_types=...)``): the decorated functions and classes are left as they
    are, so another worker of the same workflows keeps the default."""
    extra = _failure_types(types)
    return {
        name: dataclasses.replace(d, failure_exception_types=(*d.failure_exception_types, *extra))
        for name, d in workflows.items()
    }

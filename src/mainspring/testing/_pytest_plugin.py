"""The pytest plugin (entry point ``pytest11``, loaded wherever Mainspring is installed): fixtures
``mainspring_env``, a time-skipping ``WorkflowEnvironment`` of the test's own, and ``mainspring_client``, its
client. Async fixtures need pytest-asyncio (``asyncio_mode = "auto"``, or tests marked ``asyncio``)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import Client
    from ._environment import WorkflowEnvironment

__all__: list[str] = []

# Without pytest-asyncio there is nothing to run async fixtures with: then there are no fixtures.
if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def mainspring_env() -> AsyncIterator[WorkflowEnvironment]:
        """A time-skipping environment (an in-process server), stopped after the test."""
        from ._environment import WorkflowEnvironment

        async with WorkflowEnvironment.start_time_skipping() as env:
            yield env

    @pytest_asyncio.fixture
    async def mainspring_client(mainspring_env: WorkflowEnvironment) -> Client:
        """The client of the test's ``mainspring_env``."""
        return mainspring_env.client

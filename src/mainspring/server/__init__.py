"""The Mainspring server: durable state, task queues, timers, and the HTTP/JSON API.

One server owns its store (the store lock, see ``mainspring.storage._base``): the engine's execution
cache, timer wheel and task queues (``_core``, ``_timers``, ``_matching``) hold what it knows of its runs
in memory, which is only right while no one else writes them. The SQLite store is owned whole, by a
lock on its file; a shared PostgreSQL store will give each server the runs of the shards it leases,
and the engine asks ``Store.owns(run_id)`` before it takes a run into memory. Limits on one run
(``--limit-*``) are in ``_limits``.
"""

from ._config import ServerConfig
from ._engine import Engine
from ._http import openapi_document
from ._server import Server, ServerStartError, run_server
from ._timers import Clock, SystemClock

__all__ = [
    "Clock",
    "Engine",
    "Server",
    "ServerConfig",
    "ServerStartError",
    "SystemClock",
    "openapi_document",
    "run_server",
]

"""The Mainspring server: durable state, task queues, timers, and the HTTP/JSON API."""

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

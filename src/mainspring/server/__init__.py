"""The Mainspring server: durable state, task queues, timers, and the HTTP/JSON API.

Where a change goes:

- **An operation** (a new call for clients or workers): one ``Operation`` in ``_operations`` (its name,
  request and answer models, the engine call, and where it is offered: an HTTP route, the worker
  channel, the client channel). ``_http`` (routes and the OpenAPI document) and ``_channel`` (both
  WebSocket channels) are built from that table; nothing else lists operations.
- **An error**: the engine raises a domain error (``mainspring.errors``, with a ``code``); its HTTP
  status is looked up in ``_errors`` at the edges, and the CLI words it in ``mainspring.cli._common``.
- **The transition core** (``_transition``, on ``_core``): every change to a run is ``async with
  core.transition(ex) as t``: the run's lock is taken, the feature changes its state and appends events
  (``t.append``), and the scope's exit commits them in one conditional write, then acts (hands out
  tasks, arms timers, answers waiters). The exit alone picks the fast paths (answering before the
  commit; a worker's report and the workflow task it causes in one commit). ``_core`` holds the
  execution cache and the commit machinery; a run's in-memory copy (``Execution``) and what a
  transition leaves to do once durable (``Effects``) are in ``_execution``.
- **A feature** is a module of ``features`` that registers its handlers: its command kinds (a
  ``CommandKind``: validation, and the events and state it becomes, listed once in
  ``features.COMMAND_KINDS``), its operations' handlers, its timer callbacks, and what it does after a
  commit, for a run taken from the store, when a run closes and as each transition ends
  (``EngineCore.on_commit``, ``on_rearm``, ``on_close``, ``on_finish``). Today: ``workflow_tasks``
  (handing out, completing, failing, timing out; history pages in ``_history_pages``), ``activity_tasks``
  (attempts, retries, heartbeats, the four timeouts) with ``activities`` (its commands), ``timers``,
  ``cancellation`` (cancel, terminate), ``closing`` (the commands that end a run), ``signals`` (with the
  handlers workers announce) and ``signal_with_start``, ``queries`` and ``updates``. ``_engine`` puts
  them together. A new feature (child workflows, continue-as-new) is one module there and one line in
  ``Engine.__init__``. The worker's side of a command, and what its events mean in replay, is registered
  in ``mainspring.workflow._features``.
- **Pending state** (``_state``): a small core plus pending items (activities, timers, signal request ids,
  accepted updates) that are rows of their own, so a write is the size of what changed.
- **Around them**: ``_matching`` (task queues, sessions, long-polls), ``_timers`` (the timer wheel),
  ``_limits`` (per-run limits, ``--limit-*``), ``_admission`` (shedding starts under overload),
  ``_tokens`` (signed task tokens), ``_guard``, ``_wire`` and ``_protocol`` (what the edge accepts),
  ``_health`` (the store's health), ``_config`` and ``_server`` (settings, and starting both ports),
  ``_tls`` (the ports' TLS context and its reloading).

One server owns its store (the store lock, see ``mainspring.storage._base``): the engine's execution
cache, timer wheel and task queues hold what it knows of its runs in memory, which is only right while
no one else writes them. The SQLite store is owned whole, by a lock on its file; a shared PostgreSQL
store will give each server the runs of the shards it leases, and the engine asks
``Store.owns(run_id)`` before it takes a run into memory.
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

"""Large history pages, read and built in a process of the SQLite store's own.

A page of 1,000 events is ~1-2 us of Python an event to check and write as JSON. In a thread, that work
still holds the interpreter's lock, and the server's event loop, which gives the lock up at every
system call, waits for it each time behind the thread (up to the 5 ms switch interval): a fresh worker
fetching a 300,000-event history page by page slowed every other workflow's steps. In a process of its
own, the page costs the server one read of its bytes from a pipe.

That read is the event loop's own (uvloop reads the pipe in C, as it reads a socket): no thread of the
server's takes part. With a ``ProcessPoolExecutor`` two threads of the server's (its manager and its
queue's feeder) read, unpickled and passed on every answer, and each time they took the interpreter's
lock the loop waited for it behind them, on two cores shared with the process building the pages.

The process (``mainspring._page_child``: its protocol is there) is started the first time a large page
is asked for, opens the database as a second reader (as a thread's connection would be), and ends when
its stdin closes: when the store closes it, or when the server dies, however it died.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import subprocess
import sys
from contextlib import suppress
from typing import Any

from .._json import dumps, loads
from ._base import StorageError

__all__ = ["PageProcess"]

#: The pipe's reader pauses past twice this many bytes waiting to be read: a page is at most a few MB.
_READ_LIMIT = 16 * 1024 * 1024

#: The answers' pipe holds this much (the most an unprivileged process may ask of Linux by default).
_PIPE_BYTES = 1024 * 1024

_Answer = tuple[dict[str, Any], bytes]


class _Child:
    """One page process: its pipes, and the pages asked of it not answered yet (in the order asked)."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        requests: asyncio.WriteTransport,
        answers: asyncio.StreamReader,
        answers_pipe: asyncio.ReadTransport,
    ) -> None:
        self.proc = proc
        self.requests = requests
        #: Closed once read to its end (a stream's reader leaves that to its owner); closing the two
        #: transports closes the pipes.
        self.answers_pipe = answers_pipe
        self.waiting: collections.deque[asyncio.Future[_Answer]] = collections.deque()
        self.over = False
        self.reader = asyncio.ensure_future(self._read(answers))

    @classmethod
    async def start(cls, path: str) -> _Child:
        # Popen, not the loop's subprocess support: it starts the process with vfork (~1 ms), where
        # uvloop forks the server (47-90 ms of a 400 MB server's event loop). -P: the current
        # directory is not searched for modules (a "mainspring" there must not stand in for ours).
        proc = subprocess.Popen(  # noqa: ASYNC220 - see above
            [sys.executable, "-P", "-m", "mainspring._page_child", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        with suppress(AttributeError, OSError):  # Linux only, and only up to fs.pipe-max-size
            # A page in two or three reads of the event loop's, not sixteen of the default 64 KiB.
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        loop = asyncio.get_running_loop()
        try:
            answers = asyncio.StreamReader(limit=_READ_LIMIT)
            answers_pipe, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(answers), proc.stdout)
            requests, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, proc.stdin)
        except BaseException:
            proc.kill()
            await asyncio.to_thread(proc.wait)
            raise
        return cls(proc, requests, answers, answers_pipe)

    def ask(self, request: list[Any]) -> asyncio.Future[_Answer]:
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        if self.over or self.requests.is_closing():
            future.set_exception(_ended())
            return future
        self.waiting.append(future)
        self.requests.write(dumps(request) + b"\n")
        return future

    async def _read(self, answers: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await answers.readline()
                if not line:
                    return
                head = loads(line)
                data = await answers.readexactly(head["size"]) if "size" in head else b""
                future = self.waiting.popleft()
                if not future.done():  # else its caller gave up on it (a client that went away)
                    future.set_result((head, data))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, KeyError, IndexError):
            return  # it died mid-answer, or wrote what it never writes: either way it is done
        finally:
            self.over = True
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(_ended())
            self.requests.close()
            self.answers_pipe.close()
            # It has closed its stdout: it is ending, or has ended. Reaped in a thread (no child
            # watcher is involved: Popen's process is ours to wait for).
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)


def _ended() -> StorageError:
    return StorageError("its page process ended")


class PageProcess:
    """The process that builds one SQLite database's large history pages."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._child: _Child | None = None
        self._starting = asyncio.Lock()

    async def _running(self) -> _Child:
        child = self._child
        if child is not None and not child.over:
            return child
        async with self._starting:
            child = self._child
            if child is None or child.over:
                child = self._child = await _Child.start(self.path)
            return child

    async def page(self, run_id: str, first: int, last: int, budget: int) -> tuple[str, int, int]:
        try:
            child = await self._running()
        except OSError as e:
            what = f"the history of run {run_id} could not be read"
            raise StorageError(f"{what}: its page process did not start ({e})") from e
        try:
            head, data = await child.ask([run_id, first, last, budget])
        except StorageError as e:
            # The process died (killed, out of memory): the next page starts another one.
            raise StorageError(f"the history of run {run_id} could not be read: {e}") from None
        error = head.get("error")
        if error == "damaged":
            message = head["message"]
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({message})")
        if error is not None:
            raise StorageError(f"the history of run {run_id} could not be read: {head['message']}")
        return data.decode(), head["count"], head["last"]

    async def aclose(self) -> None:
        """End the process, and wait until it has."""
        child, self._child = self._child, None
        if child is not None:
            child.requests.close()  # it ends once it has read that
            await child.reader  # until its stdout closes, and it is reaped

    def close(self) -> None:
        """End the process without waiting for it."""
        child, self._child = self._child, None
        if child is not None:
            child.reader.cancel()
            child.requests.close()
            child.answers_pipe.close()
            with suppress(ProcessLookupError):
                child.proc.kill()

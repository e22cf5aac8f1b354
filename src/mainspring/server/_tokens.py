"""Task tokens: what a worker is handed with a task and echoes back to report on it.

A token names one task handed to one worker: the run, the attempt and the ids that say which
workflow task or activity attempt it is, and the worker session that got it. It is signed with a key
of the server's (kept in the store, so tokens handed out before a restart still verify after it),
and the signature also covers the task's namespace, so a token is only good on that namespace.
Nobody but the server can make one, and changing any part of one breaks it. Checking one costs one
HMAC and reads nothing, which matters: every step of every workflow checks two.

The form is opaque to workers (they echo it): base64url, without padding, of

    <kind>|<run id>|<n1>|<n2>|<session id>   followed by a 16-byte tag

where kind "w" is a workflow task (n1 its attempt, n2 the id of its WorkflowTaskStarted event) and
"a" an activity attempt (n1 its ActivityTaskScheduled event id, n2 its attempt). The tag is the first
128 bits of HMAC-SHA256(key, "<namespace>|" + the fields). None of the parts can hold a "|"
(namespaces, run ids and session ids are made of letters, digits and ".-_"), so no two tasks sign
the same text. A token is at most ``MAX_TOKEN_LENGTH`` characters of ``[A-Za-z0-9_-]``.

Whether a genuine token is still current, and whether its caller may use it, is the engine's to
decide (see ``EngineCore._check_holder``).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from typing import Literal

from ..api.fields import MAX_TASK_TOKEN_LENGTH
from ..errors import NotFoundError

__all__ = ["KEY_NAME", "MAX_TOKEN_LENGTH", "TaskTokens"]

#: The name of the server key that signs task tokens (see ``Store.server_key``).
KEY_NAME = "task_tokens"
#: The longest token the server makes: its fields are bounded (a 36-character run id, two integers
#: below 2**63, a session id of ~40 characters) and the namespace is not in it, only in its tag. The
#: API's models publish and enforce the same bound.
MAX_TOKEN_LENGTH = MAX_TASK_TOKEN_LENGTH

_TAG = 16
# base64url by hand on binascii: the base64 module's wrappers cost as much as the encoding.
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")

TokenKind = Literal["w", "a"]


class TaskTokens:
    """Makes and checks the task tokens of one server, with its key."""

    __slots__ = ("_hmac",)

    def __init__(self, key: bytes) -> None:
        # Keyed once; each token copies it (a third cheaper than keying an HMAC for each one).
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "TaskTokens(<key hidden>)"  # the key must never reach a log

    def make(self, kind: TokenKind, namespace: str, run_id: str, n1: int, n2: int, session_id: str) -> str:
        fields = f"{kind}|{run_id}|{n1}|{n2}|{session_id}".encode()
        return self._seal(namespace, fields)

    def _seal(self, namespace: str, fields: bytes) -> str:
        mac = self._hmac.copy()
        mac.update(namespace.encode() + b"|" + fields)
        tag = mac.digest()[:_TAG]
        return binascii.b2a_base64(fields + tag, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")

    def open(self, token: str, kind: TokenKind, namespace: str) -> tuple[str, int, int, str]:
        """The run id, n1, n2 and session id of a token this server made for a task of ``kind`` in
        ``namespace``; NotFoundError (404 task_not_found) for anything else."""
        if 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii():
            try:
                raw = binascii.a2b_base64(token.encode("ascii").translate(_FROM_URL) + b"==")
            except binascii.Error:
                raw = b""
            fields = raw[:-_TAG]
            # Sealing the fields again must give this very token: the tag is right, and no character
            # of it was ignored by the decoder (it skips foreign characters and unused bits).
            if (
                len(raw) > _TAG
                and fields[:2] == kind.encode() + b"|"
                and hmac.compare_digest(self._seal(namespace, fields), token)
            ):
                parts = fields.decode("ascii").split("|")
                return parts[1], int(parts[2]), int(parts[3]), parts[4]
        raise NotFoundError(
            f"this {'workflow' if kind == 'w' else 'activity'} task token was not issued by this server for "
            f"namespace {namespace!r}, or it was altered: report a task's outcome with the task_token it came "
            "with, exactly as it was, on the namespace the task came from",
            code="task_not_found",
        )

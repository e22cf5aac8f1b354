"""Who may do what: the roles a caller holds per namespace, and the access each operation needs.

A caller (a ``Principal``: an API key, or the claims of an OIDC token) holds one role in each namespace it
is granted (``"*"`` grants every namespace). Each operation of the server declares the ``Access`` it needs
(``server._operations``: a field without a default, so an operation cannot be added without a rule), and
``ALLOWED`` says which roles give it:

- reader: list, describe, history, query, results;
- writer: a reader's, and start, signal, update, cancel, terminate, reset (and schedules);
- worker: poll and complete the tasks of its namespace, nothing else (a worker's key that leaks cannot read
  or start workflows);
- admin: everything in its namespace, and keys; an admin of ``"*"`` also creates namespaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ALLOWED", "ALL_NAMESPACES", "Access", "Principal", "Role", "needed_role"]

#: The namespace of a grant to every namespace.
ALL_NAMESPACES = "*"


class Role(StrEnum):
    """A caller's role in a namespace."""

    READER = "reader"
    WRITER = "writer"
    WORKER = "worker"
    ADMIN = "admin"


class Access(StrEnum):
    """What an operation needs of its caller."""

    #: Anyone, authenticated or not (the health check, who-am-I).
    PUBLIC = "public"
    #: Any authenticated caller; what it answers depends on the caller's grants (the namespace list).
    AUTHENTICATED = "authenticated"
    READ = "read"
    WRITE = "write"
    #: A worker's traffic: sessions, polls, task completions and heartbeats.
    WORK = "work"
    #: Completing an activity from outside its worker (by task token or ids): a worker's, or a writer's.
    COMPLETE_ACTIVITY = "complete_activity"
    ADMIN = "admin"
    #: An admin of some namespace (keys, the audit log): the call then keeps to the namespaces it administers.
    SOME_ADMIN = "some_admin"


#: The roles that give each access (PUBLIC and AUTHENTICATED need no role; SOME_ADMIN, the admin role in
#: some namespace).
ALLOWED: Mapping[Access, frozenset[Role]] = {
    Access.READ: frozenset({Role.READER, Role.WRITER, Role.ADMIN}),
    Access.WRITE: frozenset({Role.WRITER, Role.ADMIN}),
    Access.WORK: frozenset({Role.WORKER, Role.ADMIN}),
    Access.COMPLETE_ACTIVITY: frozenset({Role.WORKER, Role.WRITER, Role.ADMIN}),
    Access.ADMIN: frozenset({Role.ADMIN}),
    Access.SOME_ADMIN: frozenset({Role.ADMIN}),
}


def needed_role(access: Access) -> Role:
    """The least role that gives ``access``, named in a refusal ("needs the writer role")."""
    return {
        Access.READ: Role.READER,
        Access.WRITE: Role.WRITER,
        Access.WORK: Role.WORKER,
        Access.COMPLETE_ACTIVITY: Role.WORKER,
    }.get(access, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a name to show (and log), and its role in each namespace it is granted."""

    #: What to call it: an API key's name and id, or a token's subject.
    name: str
    #: namespace (or ``"*"``) -> role.
    grants: Mapping[str, Role] = field(default_factory=dict)
    #: How it proved who it is: "api-key", "oidc", "session" (the UI's cookie), or "none" (no auth).
    method: str = "api-key"
    #: The API key's id, for a key (so that revoking it ends the UI sessions it opened).
    key_id: str | None = None
    #: When its credentials stop being valid (Unix time): an OIDC token's ``exp`` plus the clock skew the server
    #: allows; None for credentials with no end of their own (an API key ends when it is revoked). A channel
    #: opened with it is closed then (``server._channel``).
    expires_at: float | None = None

    def role_in(self, namespace: str) -> Role | None:
        """The caller's role in ``namespace`` (a grant of that namespace beats one of every namespace)."""
        role = self.grants.get(namespace)
        return role if role is not None else self.grants.get(ALL_NAMESPACES)

    def may(self, access: Access, namespace: str) -> bool:
        """Whether the caller has ``access`` to ``namespace`` ("" for the operations on no namespace, which
        need a grant of every namespace unless they are PUBLIC or AUTHENTICATED)."""
        if access in (Access.PUBLIC, Access.AUTHENTICATED):
            return True
        if access is Access.SOME_ADMIN:
            return Role.ADMIN in self.grants.values()
        role = self.role_in(namespace) if namespace else self.grants.get(ALL_NAMESPACES)
        return role is not None and role in ALLOWED[access]

    def namespaces(self) -> frozenset[str] | None:
        """The namespaces the caller may see anything of; None for every namespace."""
        if ALL_NAMESPACES in self.grants:
            return None
        return frozenset(self.grants)

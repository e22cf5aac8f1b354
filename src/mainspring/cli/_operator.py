"""``mainspring operator api-key create|list|revoke``: the keys of a server that checks who calls.

``create`` asks a running server (as an admin: ``--api-key``), or with ``--db`` writes the key into the store
directly, which is how the first admin key is made before any server runs. A key is printed once: the
server keeps only its hash.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..api.roles import ALL_NAMESPACES, Role
from ..errors import MainspringError
from ._common import EXIT_INVALID, connection_options, echo_json, fail, run_sync
from ._http import Api

__all__ = ["operator"]

_ROLES = [r.value for r in Role]


@click.group()
def operator() -> None:
    """Operate a server: its API keys, its audit log and its search attributes."""


@operator.group("api-key")
def api_key() -> None:
    """Make, list and revoke API keys (for servers started with --auth api-key)."""


def _print_key(key: dict[str, Any], output: str) -> None:
    if output == "json":
        echo_json(key)
        return
    click.echo(f"Key id     {key['key_id']}")
    click.echo(f"Name       {key['name']}")
    click.echo(f"Namespace  {key['namespace']}")
    click.echo(f"Role       {key['role']}")
    if key.get("revoked_at"):
        click.echo(f"Revoked    {key['revoked_at']}")
    if key.get("api_key"):
        click.echo("")
        click.echo(f"API key    {key['api_key']}")
        click.echo("")
        click.echo("Shown this once: the server keeps only its hash. Pass it with --api-key or MAINSPRING_API_KEY.")


@api_key.command("create")
@click.option(
    "--namespace",
    "key_namespace",
    default="default",
    show_default=True,
    help='The namespace the key is for; "*" for every namespace.',
)
@click.option("--role", type=click.Choice(_ROLES), required=True, help="What the key may do in that namespace.")
@click.option("--name", default=None, help="What the key is for (default: ROLE of NAMESPACE).")
@click.option(
    "--db",
    default=None,
    metavar="URL",
    help="Write the key into this store directly instead of asking a server (the first admin key).",
)
@click.option("--address", envvar="MAINSPRING_ADDRESS", default=None, metavar="HOST:PORT", help="Server address.")
@click.option("--api-key", envvar="MAINSPRING_API_KEY", default=None, metavar="KEY", help="An admin's API key.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def create(
    key_namespace: str,
    role: str,
    name: str | None,
    db: str | None,
    address: str | None,
    api_key: str | None,
    output: str,
) -> None:
    """Make an API key for NAMESPACE with ROLE (reader, writer, worker or admin); print it once."""
    from ..api.names import check_namespace

    if key_namespace != ALL_NAMESPACES:
        problem = check_namespace(key_namespace)
        if problem:
            fail(problem, EXIT_INVALID)
    name = name or f"{role} of {'every namespace' if key_namespace == ALL_NAMESPACES else key_namespace}"
    if db is not None:
        _create_offline(db, name, key_namespace, Role(role), output)
        return
    # Asking a server: the same checks and errors as every other command that talks to one.
    ask = run_sync(lambda api: _create_online(api, name, key_namespace, role, output))
    ask(address=address, namespace="default", api_key=api_key)


def _create_online(api: Api, name: str, namespace: str, role: str, output: str) -> None:
    key = api.post("/api/v1/api-keys", {"name": name, "namespace": namespace, "role": role})
    _print_key(key, output)


def _create_offline(db: str, name: str, namespace: str, role: Role, output: str) -> None:
    import asyncio

    from ..server._auth import key_view, make_key
    from ..storage import StorageError
    from ..storage._admin import add_api_key

    key, text = make_key(name, namespace, role, "store", time.time())
    try:
        asyncio.run(add_api_key(db, key))
    except (StorageError, MainspringError) as e:
        fail(str(e))
    _print_key({**key_view(key), "api_key": text}, output)


@api_key.command("list")
@connection_options
@run_sync
def list_(api: Api, output: str) -> None:
    """List the keys you administer (never their secrets)."""
    keys = api.get("/api/v1/api-keys")["keys"]
    if output == "json":
        click.echo(json.dumps(keys, ensure_ascii=False, indent=2))
        return
    if not keys:
        click.echo("No API keys.")
        return
    click.echo(f"{'KEY ID':<14}{'NAMESPACE':<20}{'ROLE':<8}{'STATE':<9}NAME")
    for k in keys:
        state = "revoked" if k.get("revoked_at") else "valid"
        click.echo(f"{k['key_id']:<14}{k['namespace']:<20}{k['role']:<8}{state:<9}{k['name']}")


@api_key.command("revoke")
@click.argument("key_id")
@connection_options
@run_sync
def revoke(api: Api, key_id: str, output: str) -> None:
    """Revoke the key KEY_ID: refused from now on (by other servers within seconds)."""
    key = api.post("/api/v1/api-keys/revoke", {"key_id": key_id})
    _print_key(key, output)


@operator.group("audit")
def audit() -> None:
    """Read the audit log: who changed what, when, from where (kept by servers started with --auth)."""


@audit.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many.")
@click.option("--of", "of_namespace", default=None, metavar="NAMESPACE", help="Only this namespace's entries.")
@click.option("--before", type=int, default=None, metavar="SEQ", help="Entries older than this one (next page).")
@connection_options
@run_sync
def audit_list(api: Api, limit: int, of_namespace: str | None, before: int | None, output: str) -> None:
    """The newest entries first, of the namespaces you are an admin of."""
    entries = api.get("/api/v1/audit", {"limit": limit, "namespace": of_namespace, "before": before})["entries"]
    if output == "json":
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    if not entries:
        click.echo("No entries.")
        return
    click.echo(f"{'SEQ':<7}{'AT':<28}{'STATUS':<7}{'NAMESPACE':<14}{'OPERATION':<26}{'TARGET':<24}{'FROM':<16}WHO")
    for e in entries:
        click.echo(
            f"{e['seq']:<7}{e['at']:<28}{e['status']:<7}{e['namespace'] or '-':<14}{e['operation']:<26}"
            f"{e['target'] or '-':<24}{e['peer'] or '-':<16}{e['principal']}"
        )


@operator.group("search-attribute")
def search_attribute() -> None:
    """Register, list and remove the custom search attributes of a namespace (list filters select runs by them)."""


_SA_TYPES = ["Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList"]


@search_attribute.command("create")
@click.option("--name", required=True, help="Its name: letters, digits and _, not starting with a digit.")
@click.option(
    "--type", "type_name", type=click.Choice(_SA_TYPES, case_sensitive=False), required=True, help="Its type."
)
@connection_options
@run_sync
def sa_create(api: Api, name: str, type_name: str, output: str) -> None:
    """Register the search attribute NAME of TYPE in the namespace (as `temporal operator search-attribute create`)."""
    canonical = next(t for t in _SA_TYPES if t.lower() == type_name.lower())
    made = api.post(api.path("/search-attributes"), {"name": name, "type": canonical})
    if output == "json":
        echo_json(made)
        return
    click.echo(f"Search attribute {made['name']} ({made['type']}) registered in namespace {api.namespace}.")


@search_attribute.command("list")
@connection_options
@run_sync
def sa_list(api: Api, output: str) -> None:
    """The namespace's search attributes: the built-in ones, then the custom ones."""
    found = api.get(api.path("/search-attributes"))["search_attributes"]
    if output == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'NAME':<28}{'TYPE':<13}KIND")
    for a in found:
        click.echo(f"{a['name']:<28}{a['type']:<13}{'built-in' if a['builtin'] else 'custom'}")


@search_attribute.command("remove")
@click.option("--name", required=True, help="The custom search attribute to remove.")
@connection_options
@run_sync
def sa_remove(api: Api, name: str, output: str) -> None:
    """Unregister a custom search attribute (runs keep their values; filters can no longer name it)."""
    api.post(api.path("/search-attributes/remove"), {"name": name})
    if output == "json":
        echo_json({"name": name, "removed": True})
        return
    click.echo(f"Search attribute {name} removed from namespace {api.namespace}.")

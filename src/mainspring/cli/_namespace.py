"""``mainspring namespace ...``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._common import connection_options, echo_json, run_async

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["namespace"]


@click.group()
def namespace() -> None:
    """Create and list namespaces."""


@namespace.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the namespace is for.")
@connection_options
@run_async
async def create(client: Client, name: str, description: str, output: str) -> None:
    """Create namespace NAME."""
    data = await client.create_namespace(name, description)
    if output == "json":
        echo_json(data)
    else:
        click.echo(f"Namespace {data['name']} is ready.")


@namespace.command("list")
@connection_options
@run_async
async def list_(client: Client, output: str) -> None:
    """List namespaces."""
    items = await client.list_namespaces()
    if output == "json":
        echo_json(items)
    else:
        for ns in items:
            click.echo(ns["name"] + (f"  {ns['description']}" if ns.get("description") else ""))

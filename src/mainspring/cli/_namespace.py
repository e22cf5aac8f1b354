"""``mainspring namespace ...``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._common import connection_options, echo_json, run_sync

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["namespace"]


@click.group()
def namespace() -> None:
    """Create and list namespaces."""


@namespace.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the namespace is for.")
@connection_options
@run_sync
def create(api: Api, name: str, description: str, output: str) -> None:
    """Create namespace NAME."""
    data = api.post("/api/v1/namespaces", {"name": name, "description": description})
    if output == "json":
        echo_json(data)
    else:
        click.echo(f"Namespace {data['name']} is ready.")


@namespace.command("list")
@connection_options
@run_sync
def list_(api: Api, output: str) -> None:
    """List namespaces."""
    items = api.get("/api/v1/namespaces")["namespaces"]
    if output == "json":
        echo_json(items)
    else:
        for ns in items:
            click.echo(ns["name"] + (f"  {ns['description']}" if ns.get("description") else ""))

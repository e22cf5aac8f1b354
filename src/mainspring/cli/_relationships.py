"""``mainspring workflow describe``: a run's parent and children (child workflows), as the server lists them."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["echo_relationships"]

#: At most this many children are listed one a line (``-o json`` has them all).
_MOST_SHOWN = 50


def echo_relationships(d: dict[str, Any]) -> None:
    """Print the parent and the children of the described run, if it has any."""
    parent = d.get("parent")
    if parent:
        click.echo(f"Parent: {parent['workflow_id']} (run {parent['run_id']})")
    children = d.get("children") or []
    if not children:
        return
    total = d.get("children_count") or len(children)
    click.echo(f"Children ({total}):")
    for c in children[:_MOST_SHOWN]:
        run = f"run {c['run_id']}" if c.get("run_id") else "no run yet"
        click.echo(f"  {c['workflow_id']}  {c['workflow_type']}  {c['status']}  ({run})")
    if total > _MOST_SHOWN:
        click.echo(f"  ... and {total - _MOST_SHOWN} more (-o json lists the first {len(children)})")

"""Integrations with other projects, each in a module of its own whose dependency is an extra of its own
(``mainspring.contrib.opentelemetry``: ``pip install 'mainspring[opentelemetry]'``)."""

__all__: list[str] = []

"""The web UI: static files (HTML, CSS, JavaScript) served by the server on ``--ui-port``.

Everything the browser needs ships in ``static/``; nothing is fetched from elsewhere. The pages read and
act only through the same HTTP API that the CLI and the SDK use, served on the same port.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["static_dir"]


def static_dir() -> Path:
    """The folder of the UI's files."""
    return Path(str(resources.files("mainspring.ui").joinpath("static")))

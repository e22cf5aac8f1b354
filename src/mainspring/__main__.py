"""``python -m mainspring`` is the ``mainspring`` command."""

from .cli import main

main()

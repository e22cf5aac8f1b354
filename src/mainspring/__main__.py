"""``python -m mainspring`` is the ``mainspring`` command."""

from .cli import main

# Guarded: a process the server spawns (the store's page process) imports the main module again.
if __name__ == "__main__":
    main()

"""List filters (Temporal's visibility query language): ``_ast`` the typed tree and the attributes it may name,
``_parser`` text to a checked tree (with lark). The tree becomes SQL in one place for both stores:
``mainspring.storage._visibility_sql``.

Nothing is imported here, so that the storage package can name the tree's types without loading the parser."""

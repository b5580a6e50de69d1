"""Database access: embedded server, pool, identifiers, migrations."""

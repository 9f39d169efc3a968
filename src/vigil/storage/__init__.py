"""Database engine, sessions, column types, leases and migrations."""

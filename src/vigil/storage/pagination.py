"""Cursor pagination over ids, newest first: stable while new rows arrive."""

from __future__ import annotations

from vigil.errors import ValidationFailed


def parse_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 10 or int(cursor) > 2**31 - 1:
        raise ValidationFailed("cursor: not a cursor this server handed out", field="cursor")
    return int(cursor)

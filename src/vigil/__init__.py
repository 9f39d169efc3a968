"""Vigil: open-source incident response — alerts in, incidents out, the right person paged."""

__version__ = "0.1.0"

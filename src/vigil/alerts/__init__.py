"""Alerts: what monitoring tools tell us, deduplicated by key, with their severity."""

"""Vigil's error tree: services raise these, and the API maps each kind to one HTTP status."""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    """Base class; `field` names the offending input where there is one."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class ValidationFailed(VigilError):
    """Input that can never succeed as sent."""

    status_code = 422


class NotFound(VigilError):
    status_code = 404


class Conflict(VigilError):
    """The request is valid but the current state refuses it."""

    status_code = 409


class Unauthorized(VigilError):
    status_code = 401


class Forbidden(VigilError):
    status_code = 403


class Unavailable(VigilError):
    """Temporary trouble (database down, lock timeout): senders should retry."""

    status_code = 503


class SchemaOutOfDate(VigilError):
    """The database is not migrated to the version this code needs."""

    status_code = 503

"""A conversion remembered per value, looked up in C."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Memo(dict[Any, Any]):
    """Remembers `convert(value)` per value, for conversions that see the same few values over
    and over (the moments of a batch of alerts: `now`, their startsAt).

    Use the memo's own `__getitem__` as the converter: a value seen before is a dictionary
    lookup in C, without running a Python frame. `fixed` entries are always there (None → None
    keeps NULL as NULL); past `kept` values it starts over, so a long-running process holds a
    bounded number.
    """

    __slots__ = ("convert", "fixed", "kept")

    def __init__(
        self,
        convert: Callable[[Any], Any],
        *,
        fixed: Mapping[Any, Any] | None = None,
        kept: int = 4096,
    ) -> None:
        self.convert = convert
        self.fixed = dict(fixed or {})
        self.kept = kept
        super().__init__(self.fixed)

    def __missing__(self, value: Any) -> Any:
        if len(self) > self.kept:
            self.clear()
            self.update(self.fixed)
        result = self[value] = self.convert(value)
        return result

"""What every inbound format shares: strict label maps, lenient timestamps, readable field paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from dateutil import parser as dateparser
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from vigil.clock import ensure_utc
from vigil.errors import ValidationFailed

SUMMARY_LIMIT = 1024
# Deeper JSON than this is never a real alert, and orjson (which stores our JSON columns) refuses
# to serialise past 254 levels: refuse it at the edge instead of failing at the database.
MAX_DEPTH = 64
DEDUP_KEY_LIMIT = 255
LABEL_NAME_LIMIT = 255
LABEL_VALUE_LIMIT = 4096
TEXT_LIMIT = 16_384


def _parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 / ISO 8601, including PagerDuty's `+0000` offsets; naive times are UTC.

    Go's zero time (Alertmanager's endsAt for firing alerts) means "no time" and becomes None.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # all an RFC 3339 string usually costs
        except ValueError:
            try:
                parsed = dateparser.isoparse(value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"not an RFC 3339 timestamp: {value[:40]!r}") from exc
    else:
        raise ValueError("must be an RFC 3339 timestamp string")
    if parsed.tzinfo is not UTC:  # else ensure_utc would hand it back unchanged
        try:
            parsed = ensure_utc(parsed)
        except OverflowError as exc:  # year 1 or 9999 pushed past the calendar by its offset
            raise ValueError("timestamp is out of range") from exc
    if parsed.year < 1971:
        return None
    return parsed


def parse_timestamp(value: Any, seen: dict[str, datetime | None]) -> datetime | None:
    """What a `Timestamp` field makes of `value`, raising ValueError where the field would, for
    models that leave theirs raw: pydantic calling a Python validator per value costs more than
    the parse. `seen` holds the strings parsed so far, as the alerts of a batch mostly share
    theirs."""
    if value.__class__ is not str:
        return _parse_timestamp(value)
    if value not in seen:
        seen[value] = _parse_timestamp(value)
    return seen[value]


Timestamp = Annotated[datetime | None, BeforeValidator(_parse_timestamp)]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=LABEL_NAME_LIMIT)]
LabelValue = Annotated[str, StringConstraints(max_length=LABEL_VALUE_LIMIT, strict=True)]
Labels = Annotated[dict[LabelName, LabelValue], Field(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=TEXT_LIMIT, strict=True)]


class Strict(BaseModel):
    """Inbound models ignore unknown fields (senders add them over time) but never coerce types."""

    model_config = ConfigDict(extra="ignore", strict=False, str_strip_whitespace=False)


def ensure_storable(body: Any, *, prefix: str = "", raw_body: bytes | None = None) -> None:
    """Refuse what no database column can hold: NUL characters (PostgreSQL rejects them in text
    and JSONB) and nesting deeper than MAX_DEPTH. Without this a sender would get a 5xx and retry
    a payload that can never succeed.

    `raw_body`, the JSON text `body` was parsed from, makes the usual case cheap: JSON can only
    spell NUL as the escape `\\u0000` (a raw control character is invalid JSON), so text without
    one holds no NUL, and only the depth is left to check.
    """
    if raw_body is None or may_hold_nul(raw_body) or _too_deep(body, raw_body):
        _refuse_unstorable(body, prefix)


def may_hold_nul(raw_body: bytes | None) -> bool:
    """Whether JSON text (None: unknown) may hold a NUL character: JSON can only spell one as
    the escape `\\u0000`, so text without that escape holds none."""
    return raw_body is None or b"\\u0000" in raw_body


def _too_deep(body: Any, raw_body: bytes) -> bool:
    """Whether `body` nests deeper than MAX_DEPTH. No value nests deeper than its text has
    opening brackets (brackets inside strings only add to the count), so a small body needs no
    walk: Prometheus posts one alert at a time."""
    if raw_body.count(b"[") + raw_body.count(b"{") <= MAX_DEPTH:
        return False
    return _nested_deeper_than(body, MAX_DEPTH)


def _nested_deeper_than(body: Any, depth: int) -> bool:
    """Whether a value of parsed JSON sits more than `depth` keys or indexes below the top.

    Builds no paths, and compares exact types (four times cheaper than isinstance): JSON parsers
    make plain dicts and lists.
    """
    containers = {dict, list}
    level = [body] if type(body) in containers else []
    for _ in range(depth):
        level = [
            item
            for value in level
            for item in (value.values() if type(value) is dict else value)
            if type(item) in containers
        ]
        if not level:
            return False
    return any(level)  # a non-empty container at `depth` holds values below it


def ensure_extra_fields_storable(
    fields: dict[str, Any],
    checked: frozenset[str],
    *,
    loc: tuple[int | str, ...] = (),
    prefix: str = "",
    lists: dict[str, frozenset[str]] | None = None,
) -> None:
    """`ensure_storable` for an object whose validation vouches that the fields named `checked`
    are flat (maps of strings, strings, numbers): walks only its other fields, and in each list
    named in `lists` the objects' fields beyond that list's own checked names. `loc` is where the
    object sits in the body, so depth counts from the body's top. Fields are met in the order the
    full walk meets them (the last first), so a refusal names the same field. Senders rarely add
    fields, so the usual object needs no walk at all."""
    if lists is None and fields.keys() <= checked:
        return
    for name, value in reversed(fields.items()):
        if lists is not None and name in lists:
            for index in reversed(range(len(value))):
                ensure_extra_fields_storable(
                    value[index], lists[name], loc=(*loc, name, index), prefix=prefix
                )
        elif name not in checked:
            _refuse_unstorable(value, prefix, (*loc, name))


def _refuse_unstorable(body: Any, prefix: str, loc: tuple[int | str, ...] = ()) -> None:
    """The full walk: raises for the first NUL or too-deep value it meets, naming its field."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(body, loc)]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            path = field_path(loc[:MAX_DEPTH], prefix)
            raise ValidationFailed(f"{path}: nested more than {MAX_DEPTH} levels deep", field=path)
        if isinstance(value, str):
            if "\x00" in value:
                path = field_path(loc, prefix)
                raise ValidationFailed(f"{path}: must not contain NUL characters", field=path)
        elif isinstance(value, dict):
            for name, item in value.items():
                if "\x00" in name:
                    path = field_path(loc, prefix)
                    raise ValidationFailed(
                        f"{path}: names must not contain NUL characters", field=path
                    )
                stack.append((item, (*loc, name)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, index)) for index, item in enumerate(value))


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """Pydantic's error location as the path a user would write: `alerts[3].labels.severity`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_failed(exc: PydanticValidationError, prefix: str = "") -> ValidationFailed:
    """The first error, naming its field, plus every error for senders that log them all."""
    errors = [
        {
            "field": field_path(_strip_internal(err["loc"]), prefix),
            "message": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False)
    ]
    first = errors[0]
    return ValidationFailed(
        f"{first['field']}: {first['message']}", field=first["field"], errors=errors
    )


def _strip_internal(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # Pydantic adds validator names such as "function-before[...]" or "str" to union paths.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str"})))


def truncate(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cap_raw(payload: dict[str, Any], *, size_estimate: int, limit: int) -> dict[str, Any] | None:
    """Keep the raw payload for debugging only when it is small enough; say so when it is not."""
    if limit <= 0:
        return None
    if size_estimate <= limit:
        return payload
    return {"_truncated": True, "_approximate_size": size_estimate}

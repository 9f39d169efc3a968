"""Contact methods, notification rules, shared channels, and the outbox: planning messages,
cancelling them, claiming due ones and recording what the provider said. Functions over a
session that never commit, except the sender's claim/record pair, which the caller commits
around the network call so no lock is held while a provider answers."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import User
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.notify.channels import ChannelKind, Destination, Link, Message, MessageKind, SendResult
from vigil.notify.links import action_links
from vigil.notify.models import (
    ChannelDestination,
    ContactKind,
    ContactMethod,
    MessageStatus,
    Notification,
    NotificationRule,
)
from vigil.notify.schemas import ChannelCreate, ContactMethodCreate, RuleCreate
from vigil.storage.db import is_postgres
from vigil.storage.driver import Driver, Insert
from vigil.timeline.models import EventKind
from vigil.timeline.service import record_many

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CLAIM_FOR = timedelta(seconds=60)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)

# What a new contact method adds to its owner's rules (PagerDuty-style defaults):
# immediately push, chat and email; SMS after 2 minutes; a voice call after 5 minutes.
DEFAULT_RULES: dict[ContactKind, list[tuple[str, int]]] = {
    ContactKind.EMAIL: [("high", 0), ("low", 0)],
    ContactKind.PUSH: [("high", 0), ("low", 0)],
    ContactKind.SLACK: [("high", 0)],
    ContactKind.TEAMS: [("high", 0)],
    ContactKind.SMS: [("high", 2)],
    ContactKind.VOICE: [("high", 5)],
}

CHANNEL_OF: dict[str, ChannelKind] = {
    "email": ChannelKind.EMAIL,
    "sms": ChannelKind.SMS,
    "voice": ChannelKind.VOICE,
    "slack": ChannelKind.SLACK,
    "teams": ChannelKind.TEAMS,
    "push": ChannelKind.WEBHOOK,
    "webhook": ChannelKind.WEBHOOK,
}


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Where people reach this server, and the key that signs their action links."""

    base_url: str
    secret: str


def validate_address(kind: str, address: str, field: str = "address") -> None:
    """Refuse addresses a channel could never deliver to."""
    if kind == "email":
        if not EMAIL.match(address):
            raise ValidationFailed(f"{field}: not an email address", field=field)
    elif kind in ("sms", "voice"):
        if not E164.match(address):
            raise ValidationFailed(
                f"{field}: phone numbers must be E.164, like +4930123456", field=field
            )
    else:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationFailed(f"{field}: must be an http(s) URL", field=field)


# --- contact methods and rules --------------------------------------------------------------


def add_contact_method(
    session: Session, *, user_id: int, data: ContactMethodCreate, now: datetime, links: LinkConfig
) -> ContactMethod:
    """Add a method with its default rules, and send it a verification code before it pages."""
    if session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    validate_address(data.kind, data.address)
    method = ContactMethod(
        user_id=user_id,
        kind=data.kind,
        address=data.address,
        label=data.label or data.kind.value,
        verification_code=f"{secrets.randbelow(1_000_000):06d}",
        created_at=now,
    )
    session.add(method)
    session.flush()
    for urgency, delay in DEFAULT_RULES[ContactKind(data.kind)]:
        session.add(
            NotificationRule(
                user_id=user_id, urgency=urgency, contact_method_id=method.id, delay_minutes=delay
            )
        )
    verify_url = f"{links.base_url.rstrip('/')}/docs#/notifications"
    message = _message(
        key=f"verify-{method.id}",
        kind="verify",
        channel_kind=CHANNEL_OF[method.kind],
        address=method.address,
        content={
            "title": f"Your Vigil verification code is {method.verification_code}",
            "summary": "Enter this code to start receiving pages here.",
            "body": f"Verification code: {method.verification_code}",
            "links": [{"label": "Vigil", "url": verify_url}],
        },
        user_id=user_id,
        contact_method_id=method.id,
        now=now,
    )
    _insert_messages(session, [message])
    return method


def verify_contact_method(
    session: Session, *, user_id: int, method_id: int, code: str, now: datetime
) -> ContactMethod:
    method = get_contact_method(session, user_id=user_id, method_id=method_id)
    if method.verified_at is None:
        if method.verification_code is None or not secrets.compare_digest(
            method.verification_code, code
        ):
            raise ValidationFailed("code: that is not the code we sent", field="code")
        method.verified_at = now
        method.verification_code = None
    session.flush()
    return method


def mark_verified(session: Session, *, method_id: int, now: datetime) -> None:
    """For admins and the demo: trust a method without a code (and skip sending one)."""
    session.execute(
        sa.update(ContactMethod)
        .where(ContactMethod.id == method_id)
        .values(verified_at=now, verification_code=None)
    )
    session.execute(
        sa.update(Notification)
        .where(
            Notification.contact_method_id == method_id,
            Notification.kind == "verify",
            Notification.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELLED)
    )


def get_contact_method(session: Session, *, user_id: int, method_id: int) -> ContactMethod:
    method = session.get(ContactMethod, method_id)
    if method is None or method.user_id != user_id:
        raise NotFound(
            f"contact method {method_id} not found for user {user_id}", field="method_id"
        )
    return method


def list_contact_methods(session: Session, *, user_id: int) -> list[ContactMethod]:
    return list(
        session.scalars(
            sa.select(ContactMethod)
            .where(ContactMethod.user_id == user_id)
            .order_by(ContactMethod.id)
        )
    )


def delete_contact_method(session: Session, *, user_id: int, method_id: int) -> None:
    """Delete a method; what it was still going to be sent is cancelled, not sent elsewhere."""
    method = get_contact_method(session, user_id=user_id, method_id=method_id)
    session.execute(
        sa.update(Notification)
        .where(
            Notification.contact_method_id == method_id,
            Notification.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELLED)
    )
    session.delete(method)
    session.flush()


def list_rules(session: Session, *, user_id: int) -> list[NotificationRule]:
    return list(
        session.scalars(
            sa.select(NotificationRule)
            .where(NotificationRule.user_id == user_id)
            .order_by(NotificationRule.urgency, NotificationRule.delay_minutes, NotificationRule.id)
        )
    )


def create_rule(session: Session, *, user_id: int, data: RuleCreate) -> NotificationRule:
    method = session.get(ContactMethod, data.contact_method_id)
    if method is None or method.user_id != user_id:
        raise ValidationFailed(
            f"contact_method_id: method {data.contact_method_id} is not one of this user's",
            field="contact_method_id",
        )
    rule = NotificationRule(user_id=user_id, **data.model_dump())
    session.add(rule)
    session.flush()
    return rule


def delete_rule(session: Session, *, user_id: int, rule_id: int) -> None:
    rule = session.get(NotificationRule, rule_id)
    if rule is None or rule.user_id != user_id:
        raise NotFound(f"rule {rule_id} not found for user {user_id}", field="rule_id")
    session.delete(rule)
    session.flush()


# --- shared channel destinations --------------------------------------------------------------


def create_channel(session: Session, *, data: ChannelCreate, now: datetime) -> ChannelDestination:
    validate_address(data.kind, data.address)
    if session.scalar(sa.select(ChannelDestination.id).where(ChannelDestination.name == data.name)):
        raise Conflict(f"a channel named {data.name!r} already exists", field="name")
    channel = ChannelDestination(**data.model_dump(), created_at=now)
    session.add(channel)
    session.flush()
    return channel


def list_channels(session: Session) -> list[ChannelDestination]:
    return list(session.scalars(sa.select(ChannelDestination).order_by(ChannelDestination.name)))


def get_channel(session: Session, *, channel_id: int) -> ChannelDestination:
    channel = session.get(ChannelDestination, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} not found", field="channel_id")
    return channel


def delete_channel(session: Session, *, channel_id: int) -> None:
    session.delete(get_channel(session, channel_id=channel_id))
    session.flush()


# --- planning -----------------------------------------------------------------------------


def _message(
    *,
    key: str,
    kind: str,
    channel_kind: ChannelKind,
    address: str,
    content: dict[str, Any],
    now: datetime,
    send_at: datetime | None = None,
    incident_id: int | None = None,
    user_id: int | None = None,
    contact_method_id: int | None = None,
    channel_id: int | None = None,
    secret: str | None = None,
    urgency: str | None = None,
    level: int | None = None,
) -> dict[str, Any]:
    """One outbox row; `_insert_messages` writes a planning step's rows in one statement."""
    return {
        "idempotency_key": key,
        "incident_id": incident_id,
        "user_id": user_id,
        "contact_method_id": contact_method_id,
        "channel_id": channel_id,
        "kind": kind,
        "channel_kind": channel_kind.value,
        "address": address,
        "secret": secret,
        "urgency": urgency,
        "level": level,
        "content": content,
        "send_at": send_at or now,
        "created_at": now,
    }


# Straight on the driver: a burst of new incidents writes a message per page and channel post.
_INSERT_MESSAGES = Insert(Notification.__table__, with_id=False)


def _insert_messages(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write planned messages in the caller's transaction (the outbox): one INSERT for all."""
    if rows:
        session.flush()  # rows they refer to may still be pending in the session
        Driver(session).insert(_INSERT_MESSAGES, rows)


@dataclass(frozen=True, slots=True)
class PageContent:
    """What a page says, fixed when the page is planned."""

    incident_id: int
    number: int
    title: str
    severity: str
    service_name: str
    war_room_url: str | None = None
    body: str | None = None
    event: str | None = None

    def as_content(self, links: list[dict[str, str]]) -> dict[str, Any]:
        body = self.body or f"{self.severity} on {self.service_name}: {self.title}"
        if self.war_room_url:
            links = [*links, {"label": "War room", "url": self.war_room_url}]
        return {
            "title": self.title,
            "summary": self.title,
            "severity": self.severity,
            "incident_number": self.number,
            "service_name": self.service_name,
            "body": body,
            "links": links,
            "event": self.event,
        }


def plan_pages(
    session: Session,
    *,
    page: PageContent,
    user_ids: Sequence[int],
    urgency: str,
    key_prefix: str,
    level: int | None,
    kind: str,
    now: datetime,
    links: LinkConfig,
) -> dict[int, int]:
    """Queue each user's messages by their rules for this urgency; returns messages per user.

    Unverified contact methods are skipped: a method pages only once its owner proved it works.
    """
    plan = PagePlan(page, user_ids, urgency, key_prefix, level, kind)
    return plan_pages_many(session, plans=[plan], now=now, links=links)[0]


@dataclass(frozen=True, slots=True)
class PagePlan:
    """Page these users by their notification rules for this urgency."""

    page: PageContent
    user_ids: Sequence[int]
    urgency: str
    key_prefix: str
    level: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class ChannelPosts:
    """One page to post to some shared channels, under its own idempotency-key prefix."""

    page: PageContent
    channel_ids: Sequence[int]
    key_prefix: str
    level: int | None = None
    kind: str = "update"


# Built once, Core columns: every escalation step reads its people's rules.
_RULES, _METHODS = NotificationRule.__table__, ContactMethod.__table__
_SELECT_RULES = (
    sa.select(
        _RULES.c.id.label("rule_id"),
        _RULES.c.user_id,
        _RULES.c.urgency,
        _RULES.c.delay_minutes,
        _METHODS.c.id.label("method_id"),
        _METHODS.c.kind,
        _METHODS.c.address,
    )
    .join(_METHODS, _METHODS.c.id == _RULES.c.contact_method_id)
    .where(
        _RULES.c.user_id.in_(sa.bindparam("users", expanding=True)),
        _RULES.c.urgency.in_(sa.bindparam("urgencies", expanding=True)),
        _METHODS.c.verified_at.is_not(None),
    )
    .order_by(_RULES.c.delay_minutes, _RULES.c.id)
)


def plan_pages_many(
    session: Session, *, plans: Sequence[PagePlan], now: datetime, links: LinkConfig
) -> list[dict[int, int]]:
    """`plan_pages` for many steps at once (an engine cycle firing hundreds of escalations):
    one query for everyone's rules and one insert, whatever the number of steps."""
    users = sorted({user for plan in plans for user in plan.user_ids})
    rules_of: dict[tuple[int, str], list[Any]] = {}
    if users:
        urgencies = sorted({plan.urgency for plan in plans})
        rows = session.execute(_SELECT_RULES, {"users": users, "urgencies": urgencies}).all()
        for rule in rows:
            rules_of.setdefault((rule.user_id, rule.urgency), []).append(rule)
    messages: list[dict[str, Any]] = []
    counts: list[dict[int, int]] = []
    for plan in plans:
        planned: dict[int, int] = dict.fromkeys(sorted(set(plan.user_ids)), 0)
        counts.append(planned)
        for user in planned:
            for rule in rules_of.get((user, plan.urgency), []):
                content = plan.page.as_content(
                    action_links(
                        links.base_url,
                        links.secret,
                        incident_id=plan.page.incident_id,
                        user_id=user,
                        now=now,
                    )
                )
                messages.append(
                    _message(
                        key=f"{plan.key_prefix}-u{user}-r{rule.rule_id}",
                        kind=plan.kind,
                        channel_kind=CHANNEL_OF[rule.kind],
                        address=rule.address,
                        content=content,
                        now=now,
                        send_at=now + timedelta(minutes=rule.delay_minutes),
                        incident_id=plan.page.incident_id,
                        user_id=user,
                        contact_method_id=rule.method_id,
                        urgency=plan.urgency,
                        level=plan.level,
                    )
                )
                planned[user] += 1
    _insert_messages(session, messages)
    return counts


def plan_channel_posts(
    session: Session,
    *,
    page: PageContent,
    channel_ids: Sequence[int],
    key_prefix: str,
    level: int | None,
    kind: str,
    now: datetime,
    links: LinkConfig,
) -> list[Any]:
    """Queue one post per shared channel (Slack, Teams, webhook or an email list); returns the
    channels (rows with the channel's columns)."""
    post = ChannelPosts(page, channel_ids, key_prefix, level, kind)
    return plan_channel_posts_many(session, posts=[post], now=now, links=links)[0]


# Core rows (the same attributes, no ORM objects), built once: every new incident with
# stakeholder channels reads them.
_SELECT_CHANNELS = sa.select(ChannelDestination.__table__).where(
    ChannelDestination.__table__.c.id.in_(sa.bindparam("ids", expanding=True))
)


def plan_channel_posts_many(
    session: Session, *, posts: Sequence[ChannelPosts], now: datetime, links: LinkConfig
) -> list[list[Any]]:
    """Queue the posts of many pages with one query and one insert (a burst of new incidents
    must not cost statements per incident); returns each page's channels."""
    wanted = sorted({channel_id for post in posts for channel_id in post.channel_ids})
    if not wanted:
        return [[] for _post in posts]
    channels = {
        channel.id: channel for channel in session.execute(_SELECT_CHANNELS, {"ids": wanted})
    }
    base = links.base_url.rstrip("/")
    messages: list[dict[str, Any]] = []
    posted: list[list[Any]] = []
    for post in posts:
        targets = [channels[i] for i in sorted(set(post.channel_ids)) if i in channels]
        posted.append(targets)
        content = post.page.as_content(
            [{"label": "Open", "url": f"{base}/incidents/{post.page.number}"}]
        )
        messages += [
            _channel_message(
                channel,
                key_prefix=post.key_prefix,
                kind=post.kind,
                content=content,
                now=now,
                incident_id=post.page.incident_id,
                level=post.level,
            )
            for channel in targets
        ]
    _insert_messages(session, messages)
    return posted


def plan_channel_message(
    session: Session,
    *,
    channel_id: int,
    key: str,
    kind: str,
    content: dict[str, Any],
    now: datetime,
) -> bool:
    """Queue one post to a shared channel about no single incident (a digest of many), with
    `content` shaped as `PageContent.as_content` shapes it; False when the channel is gone."""
    channel = session.execute(_SELECT_CHANNELS, {"ids": [channel_id]}).first()
    if channel is None:
        return False
    message = _channel_message(channel, key_prefix=key, kind=kind, content=content, now=now)
    _insert_messages(session, [message])
    return True


def _channel_message(
    channel: Any,
    *,
    key_prefix: str,
    kind: str,
    content: dict[str, Any],
    now: datetime,
    incident_id: int | None = None,
    level: int | None = None,
) -> dict[str, Any]:
    """One outbox row posting `content` to a shared channel (a row of `_SELECT_CHANNELS`)."""
    return _message(
        key=f"{key_prefix}-c{channel.id}",
        kind=kind,
        channel_kind=CHANNEL_OF[channel.kind],
        address=channel.address,
        secret=channel.secret,
        content=content,
        now=now,
        incident_id=incident_id,
        channel_id=channel.id,
        level=level,
    )


@dataclass
class PlanBatch:
    """Pages and channel posts collected from many steps, written together by `write`."""

    pages: list[PagePlan] = field(default_factory=list)
    posts: list[ChannelPosts] = field(default_factory=list)

    def write(self, session: Session, *, now: datetime, links: LinkConfig) -> None:
        plan_pages_many(session, plans=self.pages, now=now, links=links)
        plan_channel_posts_many(session, posts=self.posts, now=now, links=links)


def cancel_pending(
    session: Session, *, incident_ids: Iterable[int], kinds: Sequence[str] = ("page",)
) -> int:
    """Cancel messages not yet sent (an acknowledgement stops pages; a resolve stops all)."""
    ids = sorted(set(incident_ids))
    if not ids:
        return 0
    result = session.execute(
        sa.update(Notification)
        .where(
            Notification.incident_id.in_(ids),
            Notification.status == MessageStatus.PENDING,
            Notification.kind.in_(kinds),
        )
        .values(status=MessageStatus.CANCELLED)
    )
    return int(result.rowcount or 0)


def list_for_incident(session: Session, *, incident_id: int) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.incident_id == incident_id)
            .order_by(Notification.send_at, Notification.id)
        )
    )


# --- sending ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed message, detached from its session so it can be sent outside any transaction."""

    id: int
    destination: Destination
    message: Message
    attempts: int
    holder: str
    claimed_until: datetime


def _claim_statement(*, skip_locked: bool) -> sa.Update:
    """One statement claims and reads the due messages (no load-then-update round trip, no ORM
    objects); built once per database kind, since the sender runs it all the time."""
    table = Notification.__table__
    now = sa.bindparam("now")
    due = (
        sa.select(table.c.id)
        .where(
            table.c.status == MessageStatus.PENDING,
            table.c.send_at <= now,
            sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
        )
        .order_by(table.c.send_at, table.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    return (
        table.update()
        .where(table.c.id.in_(due.scalar_subquery()))
        .values(claimed_until=sa.bindparam("claimed_until"), claimed_by=sa.bindparam("holder"))
        .returning(
            table.c.id,
            table.c.channel_kind,
            table.c.address,
            table.c.secret,
            table.c.idempotency_key,
            table.c.kind,
            table.c.content,
            table.c.attempts,
            table.c.send_at,
        )
    )


_CLAIM = _claim_statement(skip_locked=False)
_CLAIM_SKIP_LOCKED = _claim_statement(skip_locked=True)


def claim_due(
    session: Session,
    *,
    now: datetime,
    holder: str,
    limit: int = 100,
    claim_for: timedelta = CLAIM_FOR,
) -> list[Claimed]:
    """Claim due messages for `CLAIM_FOR`; a claim that expires (its sender died) is taken again.

    PostgreSQL workers skip rows others have locked, so many senders share the work.
    """
    claimed_until = now + claim_for
    statement = _CLAIM_SKIP_LOCKED if is_postgres(session) else _CLAIM
    parameters = {"now": now, "limit": limit, "claimed_until": claimed_until, "holder": holder}
    rows = session.execute(statement, parameters).all()
    claimed = []
    for row in sorted(rows, key=lambda r: (r.send_at, r.id)):
        content = row.content
        claimed.append(
            Claimed(
                id=row.id,
                destination=Destination(ChannelKind(row.channel_kind), row.address, row.secret),
                message=Message(
                    idempotency_key=row.idempotency_key,
                    kind=_message_kind(row.kind),
                    title=content.get("title", ""),
                    summary=content.get("summary", ""),
                    severity=content.get("severity"),
                    incident_number=content.get("incident_number"),
                    service_name=content.get("service_name"),
                    body=content.get("body", ""),
                    links=tuple(
                        Link(link["label"], link["url"]) for link in content.get("links", [])
                    ),
                    event=content.get("event"),
                ),
                attempts=row.attempts,
                holder=holder,
                claimed_until=claimed_until,
            )
        )
    return claimed


def _message_kind(kind: str) -> MessageKind:
    if kind in ("test", "verify"):
        return MessageKind.TEST
    if kind in ("update", "reminder"):
        return MessageKind.UPDATE
    if kind == "resolved":
        return MessageKind.RESOLVED
    return MessageKind.PAGE


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20 % jitter, capped, so retries spread out."""
    base = min(BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 20), BACKOFF_CAP)
    jitter = (rng or random).uniform(0.8, 1.2)
    return base * jitter


@dataclass(slots=True)
class _Delivery:
    """The columns of one outbox row that recording a send reads and changes."""

    id: int
    incident_id: int | None
    user_id: int | None
    channel_id: int | None
    channel_kind: str
    address: str
    level: int | None
    status: str
    claimed_by: str | None
    claimed_until: datetime | None
    attempts: int
    send_at: datetime
    sent_at: datetime | None
    provider_id: str | None
    last_error: str | None


_DELIVERY_COLUMNS = [f.name for f in fields(_Delivery)]
# What `_apply_result` may change, written back in one executemany UPDATE.
_RECORDED = (
    "status",
    "attempts",
    "claimed_until",
    "claimed_by",
    "send_at",
    "sent_at",
    "provider_id",
    "last_error",
)


_SELECT_DELIVERIES = sa.select(
    *[Notification.__table__.c[name] for name in _DELIVERY_COLUMNS]
).where(Notification.__table__.c.id.in_(sa.bindparam("ids", expanding=True)))
_UPDATE_DELIVERIES = (
    Notification.__table__.update()
    .where(Notification.__table__.c.id == sa.bindparam("_id"))
    .values({name: sa.bindparam(name) for name in _RECORDED})
)


def record_results(
    session: Session,
    *,
    outcomes: Sequence[tuple[Claimed, SendResult]],
    now: datetime,
    max_attempts: int,
) -> list[str]:
    """Store what each provider said; retry transient failures, then give up and say so on the
    incident's timeline. Returns each message's new status. The sender records every send that
    finished meanwhile in one call (one read, one executemany update, one timeline insert), so a
    burst of pages is not a transaction per page."""
    ids = sorted({claimed.id for claimed, _ in outcomes})
    rows = {
        row.id: _Delivery(**row._mapping)
        for row in session.execute(_SELECT_DELIVERIES, {"ids": ids})
    }
    statuses: list[str] = []
    changed: list[_Delivery] = []
    for claimed, result in outcomes:
        row = rows.get(claimed.id)
        if row is None or row.status != MessageStatus.PENDING:
            statuses.append(row.status if row else MessageStatus.CANCELLED)
            continue
        if row.claimed_by != claimed.holder:
            # Our claim lapsed and another worker took the message over: its result counts.
            statuses.append(row.status)
            continue
        _apply_result(row, result, now, max_attempts)
        statuses.append(row.status)
        changed.append(row)
    if changed:
        session.execute(
            _UPDATE_DELIVERIES,
            [
                {"_id": row.id, **{name: getattr(row, name) for name in _RECORDED}}
                for row in changed
            ],
        )
    finished = [
        row
        for row in changed
        if row.incident_id is not None and row.status != MessageStatus.PENDING
    ]
    _record_attempts(session, finished, now)
    return statuses


def _apply_result(row: _Delivery, result: SendResult, now: datetime, max_attempts: int) -> None:
    row.attempts += 1
    row.claimed_until = None
    row.claimed_by = None
    if result.ok:
        row.status = MessageStatus.SENT
        row.sent_at = now
        row.provider_id = result.provider_id
        row.last_error = None
    elif not result.permanent and row.attempts < max_attempts:
        row.last_error = (result.error or "failed")[:2000]
        delay = backoff(row.attempts)
        if result.retry_after:
            delay = max(delay, timedelta(seconds=result.retry_after))
        row.send_at = now + delay
    else:
        row.status = MessageStatus.FAILED
        row.last_error = (result.error or "failed")[:2000]


_HOW = {
    "email": "email",
    "sms": "SMS",
    "voice": "voice call",
    "slack": "Slack",
    "teams": "Teams",
    "webhook": "webhook",
}


_NAME_QUERIES: dict[str, sa.Select[Any]] = {}


def names_by_id(session: Session, table: sa.Table, ids: Iterable[int | None]) -> dict[int, str]:
    """`id → name` for the given ids of a table with a `name` column, in one query."""
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    query = _NAME_QUERIES.get(table.name)
    if query is None:
        query = _NAME_QUERIES[table.name] = sa.select(table.c.id, table.c.name).where(
            table.c.id.in_(sa.bindparam("ids", expanding=True))
        )
    return dict(session.execute(query, {"ids": wanted}).tuples().all())


def _record_attempts(session: Session, rows: list[_Delivery], now: datetime) -> None:
    """Put each delivered or failed message on its incident's timeline, in one insert."""
    if not rows:
        return
    users = names_by_id(session, User.__table__, {row.user_id for row in rows})
    channels = names_by_id(session, ChannelDestination.__table__, {row.channel_id for row in rows})
    events = []
    for row in rows:
        who = users.get(row.user_id or 0) or channels.get(row.channel_id or 0) or row.address
        how = _HOW.get(row.channel_kind, row.channel_kind)
        if row.status == MessageStatus.SENT:
            kind, message = EventKind.NOTIFIED, f"Notified {who} by {how}"
        else:
            kind = EventKind.NOTIFY_FAILED
            message = f"Could not reach {who} by {how}: {row.last_error}"
        events.append(
            {
                "incident_id": row.incident_id,
                "kind": kind,
                "at": now,
                "actor_user_id": None,
                "message": message,
                "data": {
                    "notification_id": row.id,
                    "user_id": row.user_id,
                    "channel": row.channel_kind,
                    "level": row.level,
                    "attempts": row.attempts,
                    "status": row.status,
                },
            }
        )
    record_many(session, events)

"""Telling people: status updates and their cadence, stakeholder notifications, followers, and
the reminder when a stakeholder update is overdue. Also response plans and tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.config import Settings
from vigil.errors import Conflict, NotFound, ValidationFailed
from vigil.incidents.impact import Thresholds
from vigil.incidents.models import (
    AnnouncementWindow,
    EventKind,
    Follower,
    Incident,
    IncidentRole,
    IncidentStatus,
    ResponsePlan,
    Role,
    StakeholderRule,
    StatusUpdate,
    Task,
    in_hand,
)
from vigil.notify import service as notify
from vigil.notify.models import ChannelDestination
from vigil.notify.service import LinkConfig, PageContent
from vigil.services.models import Service
from vigil.storage.driver import Driver, Query, Sql
from vigil.timeline.service import record

STAKEHOLDER_EVENTS = ("declared", "severity_changed", "update", "resolved")


@dataclass(frozen=True, slots=True)
class CommandConfig:
    """Installation-wide incident-command settings, handed down from the app or worker."""

    links: LinkConfig
    war_room_template: str | None = None
    cadence_minutes: dict[str, int] = field(default_factory=lambda: {"SEV1": 30, "SEV2": 60})
    thresholds: Thresholds = field(default_factory=Thresholds)
    # Alert storms: each stakeholder channel hears of this many alert-opened incidents per
    # window one by one, and of the rest in one digest when the window ends.
    announce_burst: int = 5
    announce_window: timedelta = timedelta(minutes=10)


def command_config(settings: Settings, links: LinkConfig) -> CommandConfig:
    """Incident-command settings: war-room template, update cadence, severity thresholds."""
    return CommandConfig(
        links=links,
        war_room_template=settings.war_room_template,
        cadence_minutes={
            "SEV1": settings.update_cadence_sev1_minutes,
            "SEV2": settings.update_cadence_sev2_minutes,
        },
        announce_burst=settings.stakeholder_burst,
        announce_window=timedelta(minutes=settings.stakeholder_burst_minutes),
        thresholds=Thresholds(
            sev1_customers=settings.severity_sev1_customers,
            sev2_customers=settings.severity_sev2_customers,
            sev1_revenue=settings.severity_sev1_revenue,
            sev2_revenue=settings.severity_sev2_revenue,
        ),
    )


def _page(session: Session, incident: Incident, *, body: str, event: str) -> PageContent:
    service = session.get(Service, incident.service_id) if incident.service_id else None
    return PageContent(
        incident_id=incident.id,
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        service_name=service.name if service else "declared",
        war_room_url=incident.war_room_url,
        body=body,
        event=f"incident.{event}",
    )


# Built once (Core, no ORM objects): these run for every alert that opens an incident.
_RULES = StakeholderRule.__table__
_SELECT_PLANS = sa.select(ResponsePlan.__table__).where(
    ResponsePlan.__table__.c.service_id.in_(sa.bindparam("ids", expanding=True))
)
_PLANS = ResponsePlan.__table__
# What incidents opened by alerts need, in one read (`opened_config`): the response plans of
# their services (tag 'p') and every stakeholder rule (tag 'r'). The service ids come as one JSON
# array, so PostgreSQL keeps one plan for the statement.
_SELECT_OPENED_CONFIG = Query(
    "SELECT 'p', id, service_id, severities, runbook_url, checklist, NULL, NULL, NULL"
    " FROM response_plans WHERE service_id {ids}"
    " UNION ALL SELECT 'r', NULL, NULL, NULL, NULL, NULL, severity, channel_id, events"
    " FROM stakeholder_rules",
    [
        sa.Column("tag", sa.String()),
        _PLANS.c.id,
        _PLANS.c.service_id,
        _PLANS.c.severities,
        _PLANS.c.runbook_url,
        _PLANS.c.checklist,
        _RULES.c.severity,
        _RULES.c.channel_id,
        _RULES.c.events,
    ],
    postgres="SELECT 'p', id, service_id, severities, runbook_url, checklist, NULL, NULL, NULL"
    " FROM response_plans WHERE service_id IN"
    " (SELECT CAST(value AS INTEGER) FROM jsonb_array_elements_text(:ids))"
    " UNION ALL SELECT 'r', NULL, NULL, NULL, NULL, NULL, severity, channel_id, events"
    " FROM stakeholder_rules",
    json=("ids",),
)


@dataclass(frozen=True, slots=True)
class OpenedConfig:
    """The response plans and stakeholder rules that incidents opened by alerts follow."""

    plans: list[Any]
    rules: list[Any]


def opened_config(session: Session, *, service_ids: Sequence[int]) -> OpenedConfig:
    """Both in one statement: a commit of alerts that opens incidents reads them every time."""
    plans: list[Any] = []
    rules: list[Any] = []
    for row in Driver(session).records(_SELECT_OPENED_CONFIG, ids=sorted(set(service_ids))):
        (plans if row.tag == "p" else rules).append(row)
    return OpenedConfig(plans=plans, rules=rules)


_INSERT_TASKS = sa.insert(Task.__table__)


def notify_stakeholders_of_opened(
    session: Session,
    *,
    incidents: Sequence[Any],
    war_rooms: dict[int, str | None],
    now: datetime,
    config: CommandConfig,
    rules: Sequence[Any],
    service_names: dict[int, str] | None = None,
) -> None:
    """`notify_stakeholders` for a batch of incidents alerts just opened, by the stakeholder
    `rules` (`opened_config` reads them), in a few statements whatever the batch size: one count
    per channel (`_announce_or_hold`: past the window's burst, the rest wait for its digest), and
    the posts. A brand-new incident has no followers yet, so only channels."""
    channels_by_severity: dict[str, set[int]] = {}
    for rule in rules:
        if "declared" in rule.events:
            channels_by_severity.setdefault(rule.severity, set()).add(rule.channel_id)
    told = [row for row in incidents if row.severity in channels_by_severity]
    heard = _announce_or_hold(session, told, channels_by_severity, now=now, config=config)
    told = [row for row in told if row.id in heard]
    if not told:
        return
    names = dict(service_names or {})
    unknown = {row.service_id for row in told if row.service_id not in names}
    names.update(notify.names_by_id(session, Service.__table__, unknown))
    stamp = int(now.timestamp() * 1000)
    posts = [
        notify.ChannelPosts(
            PageContent(
                incident_id=row.id,
                number=row.id,
                title=row.title,
                severity=row.severity,
                service_name=names.get(row.service_id, "declared"),
                war_room_url=war_rooms.get(row.id),
                body=f"{row.severity} opened by an alert: {row.title}",
                event="incident.declared",
            ),
            heard[row.id],
            f"inc{row.id}-declared-t{stamp}",
        )
        for row in told
    ]
    notify.plan_channel_posts_many(session, posts=posts, now=now, links=config.links)


def announcement_window(now: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """The window of time holding `now`: windows start at whole multiples of `length` since
    the epoch, so every process (and a restarted one) counts into the same windows."""
    seconds = max(1, int(length.total_seconds()))
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
    return start, start + timedelta(seconds=seconds)


def announced_one_by_one(before: int, count: int, burst: int) -> int:
    """Of `count` incidents a channel is to hear of, after `before` earlier ones in the same
    window, how many it hears of individually; the others wait for the window's digest."""
    return max(0, min(count, burst - before))


# One statement per channel and commit, whatever the number of incidents: the row's lock (on
# PostgreSQL) orders concurrent writers, and RETURNING tells each how many came before it.
_COUNT_OPENED = Sql(
    "INSERT INTO announcement_windows"
    " (channel_id, window_start, window_end, opened, held, digested)"
    " VALUES (:channel_id, :window_start, :window_end, :opened, :held, 0)"
    " ON CONFLICT (channel_id, window_start) DO UPDATE SET"
    " opened = announcement_windows.opened + excluded.opened,"
    " held = CASE WHEN announcement_windows.opened + excluded.opened > :burst"
    " THEN announcement_windows.opened + excluded.opened - :burst ELSE 0 END"
    " RETURNING opened"
)


def _announce_or_hold(
    session: Session,
    told: Sequence[Any],
    channels_by_severity: dict[str, set[int]],
    *,
    now: datetime,
    config: CommandConfig,
) -> dict[int, list[int]]:
    """The channels that announce each incident now (incident id: channel ids); the others
    count it for their window's digest (`post_announcement_digests`)."""
    by_channel: dict[int, list[int]] = {}
    for row in sorted(told, key=lambda row: row.id):
        for channel_id in channels_by_severity[row.severity]:
            by_channel.setdefault(channel_id, []).append(row.id)
    start, end = announcement_window(now, config.announce_window)
    burst = config.announce_burst
    driver = Driver(session)
    heard: dict[int, list[int]] = {}
    for channel_id in sorted(by_channel):  # in id order: two writers never deadlock
        ids = by_channel[channel_id]
        ((opened,),) = driver.rows(
            _COUNT_OPENED,
            channel_id=channel_id,
            window_start=start,
            window_end=end,
            opened=len(ids),
            held=len(ids) - announced_one_by_one(0, len(ids), burst),  # a new window's
            burst=burst,
        )
        for incident_id in ids[: announced_one_by_one(opened - len(ids), len(ids), burst)]:
            heard.setdefault(incident_id, []).append(channel_id)
    return heard


KEEP_WINDOWS = timedelta(days=1)
_DIGEST_LISTS = 10  # incidents a digest names; the link opens the rest


def post_announcement_digests(session: Session, *, now: datetime, config: CommandConfig) -> int:
    """Engine module: for each window that has ended with incidents its channel has not heard
    of, one post saying how many and naming the latest; then forget windows a day old."""
    windows = session.scalars(
        sa.select(AnnouncementWindow)
        .where(
            AnnouncementWindow.held > AnnouncementWindow.digested,
            AnnouncementWindow.window_end <= now,
        )
        .order_by(AnnouncementWindow.window_end, AnnouncementWindow.channel_id)
    ).all()
    for window in windows:
        _post_digest(session, window, now=now, config=config)
        window.digested = window.held
    session.flush()
    session.execute(
        sa.delete(AnnouncementWindow).where(
            AnnouncementWindow.window_end < now - KEEP_WINDOWS,
            AnnouncementWindow.held <= AnnouncementWindow.digested,
        )
    )
    return len(windows)


def _post_digest(
    session: Session, window: AnnouncementWindow, *, now: datetime, config: CommandConfig
) -> None:
    severities = sorted(
        {
            rule.severity
            for rule in session.execute(
                sa.select(_RULES.c.severity, _RULES.c.events).where(
                    _RULES.c.channel_id == window.channel_id
                )
            )
            if "declared" in rule.events
        }
    )
    latest = session.execute(
        sa.select(Incident.id, Incident.title, Incident.severity)
        .where(
            Incident.created_at >= window.window_start,
            Incident.created_at < window.window_end,
            Incident.severity.in_(severities),
        )
        .order_by(Incident.id.desc())
        .limit(_DIGEST_LISTS)
    ).all()
    count = window.held - window.digested
    one_by_one = window.opened - window.held
    span = f"{window.window_start:%Y-%m-%d %H:%M}–{window.window_end:%H:%M} UTC"
    noun = "incident" if count == 1 else "incidents"
    lines = [
        f"Alerts opened {window.opened:,} {'/'.join(severities)} incidents between {span}: "
        f"too many to announce one by one. This channel heard of the first {one_by_one:,}; "
        f"this digest stands for the other {count:,}.",
        "",
        "Latest:" if latest else "",
        *(f"#{row.id} [{row.severity}] {row.title}" for row in latest),
    ]
    base = config.links.base_url.rstrip("/")
    content = {
        "title": f"{count:,} more {noun} opened by alerts",
        "summary": f"{count:,} more {noun} opened by alerts between {span}",
        "severity": severities[0] if severities else None,  # SEV1 sorts first: the worst
        "incident_number": None,
        "service_name": None,
        "body": "\n".join(lines).rstrip(),
        "links": [{"label": "Open incidents", "url": f"{base}/incidents"}],
        "event": "incidents.digest",
    }
    notify.plan_channel_message(
        session,
        channel_id=window.channel_id,
        key=f"digest-w{int(window.window_start.timestamp())}-n{window.held}",
        kind="update",
        content=content,
        now=now,
    )


def notify_stakeholders(
    session: Session,
    *,
    incident: Incident,
    event: str,
    body: str,
    now: datetime,
    config: CommandConfig,
) -> list[str]:
    """Post to the severity's stakeholder channels for this event, and tell followers."""
    rules = list(
        session.scalars(
            sa.select(StakeholderRule).where(StakeholderRule.severity == incident.severity)
        )
    )
    channel_ids = [rule.channel_id for rule in rules if event in rule.events]
    page = _page(session, incident, body=body, event=event)
    stamp = int(now.timestamp() * 1000)
    kind = "resolved" if event == "resolved" else "update"
    channels = notify.plan_channel_posts(
        session,
        page=page,
        channel_ids=channel_ids,
        key_prefix=f"inc{incident.id}-{event}-t{stamp}",
        level=None,
        kind=kind,
        now=now,
        links=config.links,
    )
    followers = list(
        session.scalars(sa.select(Follower.user_id).where(Follower.incident_id == incident.id))
    )
    notify.plan_pages(
        session,
        page=page,
        user_ids=followers,
        urgency="low",
        key_prefix=f"inc{incident.id}-{event}-t{stamp}-f",
        level=None,
        kind=kind,
        now=now,
        links=config.links,
    )
    return [c.name for c in channels] + [f"{len(followers)} follower(s)"] * bool(followers)


def post_update(
    session: Session,
    *,
    incident_id: int,
    message: str,
    audience: str,
    author_id: int,
    now: datetime,
    config: CommandConfig,
) -> StatusUpdate:
    """A status update; stakeholder updates reset the cadence and go to stakeholders."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident #{incident_id} not found", field="number")
    if incident.status == IncidentStatus.RESOLVED:
        raise Conflict(f"incident #{incident_id} is resolved; reopen it first", field="status")
    update = StatusUpdate(
        incident_id=incident_id,
        audience=audience,
        phase=incident.status,
        message=message,
        author_id=author_id,
        created_at=now,
    )
    session.add(update)
    told: list[str] = []
    if audience in ("stakeholders", "public"):
        incident.last_stakeholder_update_at = now
        incident.update_reminded_at = None
        told = notify_stakeholders(
            session, incident=incident, event="update", body=message, now=now, config=config
        )
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.STATUS_UPDATE,
        now=now,
        actor_user_id=author_id,
        message=f"Update ({audience}, {incident.status}): {message}",
        data={"audience": audience, "told": told},
    )
    session.flush()
    return update


def list_updates(session: Session, *, incident_id: int) -> list[StatusUpdate]:
    return list(
        session.scalars(
            sa.select(StatusUpdate)
            .where(StatusUpdate.incident_id == incident_id)
            .order_by(StatusUpdate.created_at, StatusUpdate.id)
        )
    )


def remind_overdue_updates(session: Session, *, now: datetime, config: CommandConfig) -> int:
    """Engine module: an open SEV1/SEV2 without a stakeholder update for its cadence reminds the
    communications manager (or, without one, the commander), once per cadence period."""
    count = 0
    for severity, minutes in config.cadence_minutes.items():
        cadence = timedelta(minutes=minutes)
        candidates = session.scalars(
            sa.select(Incident).where(
                Incident.severity == severity,
                in_hand(),  # not triggered, not resolved
                Incident.merged_into_id.is_(None),
                sa.func.coalesce(Incident.last_stakeholder_update_at, Incident.created_at)
                <= now - cadence,
            )
        ).all()
        for incident in candidates:
            if incident.update_reminded_at and incident.update_reminded_at > now - cadence:
                continue
            holder = _role_holder(session, incident.id, Role.COMMUNICATIONS_MANAGER)
            role = "communications manager"
            if holder is None:
                holder, role = _role_holder(session, incident.id, Role.COMMANDER), "commander"
            incident.update_reminded_at = now
            if holder is not None:
                notify.plan_pages(
                    session,
                    page=_page(
                        session,
                        incident,
                        body=f"A stakeholder update is due ({severity}: every {minutes} min).",
                        event="update_overdue",
                    ),
                    user_ids=[holder],
                    urgency="low",
                    key_prefix=f"inc{incident.id}-remind-t{int(now.timestamp() * 1000)}",
                    level=None,
                    kind="reminder",
                    now=now,
                    links=config.links,
                )
            record(
                session,
                incident_id=incident.id,
                kind=EventKind.UPDATE_OVERDUE,
                now=now,
                message=(
                    f"Stakeholder update overdue ({severity}: every {minutes} min); "
                    + (f"reminded the {role}" if holder else "nobody holds a role to remind")
                ),
                data={"user_id": holder},
            )
            count += 1
    session.flush()
    return count


def _role_holder(session: Session, incident_id: int, role: Role) -> int | None:
    return session.scalar(
        sa.select(IncidentRole.user_id).where(
            IncidentRole.incident_id == incident_id,
            IncidentRole.role == role,
            IncidentRole.ended_at.is_(None),
        )
    )


# --- followers --------------------------------------------------------------------------------


def follow(session: Session, *, incident_id: int, user_id: int) -> None:
    if session.get(Follower, (incident_id, user_id)) is None:
        session.add(Follower(incident_id=incident_id, user_id=user_id))
        session.flush()


def unfollow(session: Session, *, incident_id: int, user_id: int) -> None:
    session.execute(
        sa.delete(Follower).where(Follower.incident_id == incident_id, Follower.user_id == user_id)
    )


# --- stakeholder rules ------------------------------------------------------------------------


def create_stakeholder_rule(
    session: Session, *, severity: str, channel_id: int, events: list[str], now: datetime
) -> StakeholderRule:
    if session.get(ChannelDestination, channel_id) is None:
        raise ValidationFailed(f"channel {channel_id} does not exist", field="channel_id")
    rule = StakeholderRule(severity=severity, channel_id=channel_id, events=events, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def list_stakeholder_rules(session: Session) -> list[StakeholderRule]:
    return list(session.scalars(sa.select(StakeholderRule).order_by(StakeholderRule.severity)))


def delete_stakeholder_rule(session: Session, *, rule_id: int) -> None:
    rule = session.get(StakeholderRule, rule_id)
    if rule is None:
        raise NotFound(f"stakeholder rule {rule_id} not found", field="rule_id")
    session.delete(rule)
    session.flush()


# --- response plans and tasks -----------------------------------------------------------------


def create_plan(
    session: Session,
    *,
    service_id: int,
    name: str,
    severities: list[str],
    runbook_url: str | None,
    checklist: list[str],
    now: datetime,
) -> ResponsePlan:
    if session.get(Service, service_id) is None:
        raise NotFound(f"service {service_id} not found", field="service_id")
    plan = ResponsePlan(
        service_id=service_id,
        name=name,
        severities=severities,
        runbook_url=runbook_url,
        checklist=checklist,
        created_at=now,
    )
    session.add(plan)
    session.flush()
    return plan


def list_plans(session: Session, *, service_id: int) -> list[ResponsePlan]:
    return list(
        session.scalars(
            sa.select(ResponsePlan)
            .where(ResponsePlan.service_id == service_id)
            .order_by(ResponsePlan.id)
        )
    )


def delete_plan(session: Session, *, service_id: int, plan_id: int) -> None:
    plan = session.get(ResponsePlan, plan_id)
    if plan is None or plan.service_id != service_id:
        raise NotFound(f"response plan {plan_id} not found", field="plan_id")
    session.delete(plan)
    session.flush()


def apply_plans(
    session: Session,
    *,
    incidents: Sequence[Any],
    now: datetime,
    plans: Sequence[Any] | None = None,
) -> None:
    """Turn the matching response plans' checklists into tasks on each new incident (`plans`:
    the plans of their services, when the caller read them with `opened_config`)."""
    service_ids = sorted({i.service_id for i in incidents if i.service_id is not None})
    if not service_ids:
        return
    if plans is None:
        plans = session.execute(_SELECT_PLANS, {"ids": service_ids}).all()
    if not plans:
        return
    rows: list[dict[str, Any]] = []
    for incident in incidents:
        for plan in plans:
            if plan.service_id != incident.service_id or incident.severity not in plan.severities:
                continue
            checklist = list(plan.checklist)
            if plan.runbook_url:
                checklist.insert(0, f"Open the runbook: {plan.runbook_url}")
            rows += [
                {
                    "incident_id": incident.id,
                    "title": item[:500],
                    "status": "open",
                    "from_plan_id": plan.id,
                    "created_at": now,
                }
                for item in checklist
            ]
    if rows:
        session.execute(_INSERT_TASKS, rows)


def add_task(
    session: Session,
    *,
    incident_id: int,
    title: str,
    assignee_id: int | None,
    due_at: datetime | None,
    actor_id: int,
    now: datetime,
) -> Task:
    task = Task(
        incident_id=incident_id,
        title=title,
        assignee_id=assignee_id,
        due_at=due_at,
        created_at=now,
        created_by_id=actor_id,
    )
    session.add(task)
    session.flush()
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.TASK_ADDED,
        now=now,
        actor_user_id=actor_id,
        message=f"Task added: {title}",
        data={"task_id": task.id, "assignee_id": assignee_id},
    )
    return task


def update_task(
    session: Session,
    *,
    incident_id: int,
    task_id: int,
    changes: dict[str, Any],
    actor_id: int,
    now: datetime,
) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.incident_id != incident_id:
        raise NotFound(f"task {task_id} not found on incident #{incident_id}", field="task_id")
    for name, value in changes.items():
        setattr(task, name, value)
    if changes.get("status") == "done":
        task.completed_at = now
    elif "status" in changes:
        task.completed_at = None
    described = ", ".join(f"{k} → {v}" for k, v in changes.items())
    record(
        session,
        incident_id=incident_id,
        kind=EventKind.TASK_UPDATED,
        now=now,
        actor_user_id=actor_id,
        message=f"Task '{task.title}': {described}",
        data={"task_id": task.id, **{k: str(v) for k, v in changes.items()}},
    )
    session.flush()
    return task


def list_tasks(session: Session, *, incident_id: int) -> list[Task]:
    return list(
        session.scalars(sa.select(Task).where(Task.incident_id == incident_id).order_by(Task.id))
    )

"""The escalation engine module: fire every due level, resolving schedules at that instant, and
queue the pages in the same transaction. Also management notifications and the visible plan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.orm import Session

from vigil.accounts.models import User
from vigil.escalation import planner
from vigil.escalation.models import EscalationState, IncidentEscalation, TargetType
from vigil.escalation.schemas import PlanStep
from vigil.escalation.service import team_member_ids
from vigil.notify import service as notify
from vigil.notify.service import LinkConfig, PageContent
from vigil.schedules import oncall
from vigil.schedules.models import Schedule
from vigil.storage.db import is_postgres
from vigil.timeline.models import EventKind
from vigil.timeline.service import record_many

log = logging.getLogger("vigil.escalation")
OVERDUE = Counter(
    "vigil_escalation_steps_overdue_total", "Escalation steps found late by the auditor"
)
BATCH = 500
AUDIT_GRACE = timedelta(seconds=10)


@dataclass
class Resolved:
    """The people and channels one level reaches, with how each was chosen."""

    user_ids: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


class TargetResolver:
    """Resolves targets at one instant, caching schedules and teams for the whole cycle."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self._oncall: dict[tuple[int, datetime], int | None] = {}
        self._names: dict[int, str] | None = None
        self._schedule_names: dict[int, str] | None = None

    def names(self) -> dict[int, str]:
        if self._names is None:
            self._names = dict(self.session.execute(_USER_NAMES).tuples().all())
        return self._names

    def schedule_names(self) -> dict[int, str]:
        if self._schedule_names is None:
            self._schedule_names = dict(self.session.execute(_SCHEDULE_NAMES).tuples().all())
        return self._schedule_names

    def on_call(self, schedule_id: int, at: datetime) -> int | None:
        key = (schedule_id, at)
        if key not in self._oncall:
            self._oncall[key] = oncall.on_call_user(self.session, schedule_id=schedule_id, at=at)
        return self._oncall[key]

    def resolve(self, targets: Sequence[dict[str, Any]], at: datetime | None = None) -> Resolved:
        at = at or self.now
        out = Resolved()
        names = self.names()
        teams = [t["id"] for t in targets if t["type"] == TargetType.TEAM]
        members = team_member_ids(self.session, teams) if teams else {}
        for target in targets:
            kind, ident = target["type"], int(target["id"])
            if kind == TargetType.USER:
                out.user_ids.append(ident)
                out.labels.append(names.get(ident, f"user {ident}"))
            elif kind == TargetType.SCHEDULE:
                schedule = self.schedule_names().get(ident, f"schedule {ident}")
                user = self.on_call(ident, at)
                if user is None:
                    out.labels.append(f"nobody (no one on call for {schedule})")
                else:
                    out.user_ids.append(user)
                    out.labels.append(f"{names.get(user, user)} (on call for {schedule})")
            elif kind == TargetType.TEAM:
                for user in members.get(ident, []):
                    out.user_ids.append(user)
                    out.labels.append(names.get(user, f"user {user}"))
            else:
                out.channel_ids.append(ident)
                out.labels.append(f"channel {ident}")
        return out


def _page(escalation: IncidentEscalation) -> tuple[PageContent, str]:
    context = escalation.snapshot["context"]
    content = PageContent(
        incident_id=escalation.incident_id,
        number=context["number"],
        title=context["title"],
        severity=context["severity"],
        service_name=context["service_name"],
        war_room_url=context.get("war_room_url"),
    )
    return content, context["urgency"]


def _plan(
    batch: notify.PlanBatch,
    page: PageContent,
    reached: Resolved,
    urgency: str,
    prefix: str,
    level: int | None,
    kind: str,
) -> None:
    """Add the messages for everyone and every channel a step reached to the batch."""
    batch.pages.append(notify.PagePlan(page, reached.user_ids, urgency, prefix, level, kind))
    if reached.channel_ids:
        batch.posts.append(notify.ChannelPosts(page, reached.channel_ids, prefix, level, kind))


# Built once: the engine looks for due steps on every wake-up.
_DUE = (
    sa.select(IncidentEscalation)
    .where(
        IncidentEscalation.state.in_([EscalationState.ACTIVE, EscalationState.WAITING]),
        IncidentEscalation.next_at <= sa.bindparam("now"),
    )
    .order_by(IncidentEscalation.next_at)
    .limit(BATCH)
)
_DUE_SKIP_LOCKED = _DUE.with_for_update(skip_locked=True)
_USER_NAMES = sa.select(User.id, User.name)
_SCHEDULE_NAMES = sa.select(Schedule.id, Schedule.name)


def run_escalations(session: Session, *, now: datetime, links: LinkConfig) -> int:
    """Fire every due level once; returns how many fired."""
    query = _DUE_SKIP_LOCKED if is_postgres(session) else _DUE
    due = list(session.scalars(query, {"now": now}))
    if not due:
        return 0
    resolver = TargetResolver(session, now)
    batch = notify.PlanBatch()
    events = [
        fire(session, escalation=escalation, resolver=resolver, now=now, batch=batch)
        for escalation in due
    ]
    batch.write(session, now=now, links=links)
    record_many(session, events)
    session.flush()
    return len(due)


def fire(
    session: Session,
    *,
    escalation: IncidentEscalation,
    resolver: TargetResolver,
    now: datetime,
    batch: notify.PlanBatch,
) -> dict[str, Any]:
    """Fire the escalation's next level and move it on; returns the timeline entry. Its messages
    go into `batch`, which the caller writes (one insert for a whole cycle)."""
    levels = escalation.snapshot["levels"]
    page, urgency = _page(escalation)
    # Low urgency notifies the first level only: it never escalates further or repeats.
    repeat = escalation.snapshot["repeat"] if urgency == "high" else 0
    if urgency != "high":
        levels = levels[:1]
    level_index = min(escalation.next_level, len(levels) - 1)
    level = levels[level_index]
    step = planner.step(levels, repeat=repeat, level=level_index, cycle=escalation.cycle, now=now)
    chosen = planner.pick_targets(
        level["targets"],
        mode=level.get("mode", "all"),
        incident_id=escalation.incident_id,
        cycle=step.cycle,
    )
    reached = resolver.resolve(chosen)
    # A level can fire again (ack timeout, manual escalation): the instant keeps keys unique.
    prefix = (
        f"inc{escalation.incident_id}-c{step.cycle}-l{level_index}-t{int(now.timestamp() * 1000)}"
    )
    _plan(batch, page, reached, urgency, prefix, level_index, "page")
    escalation.next_level = step.next_level
    escalation.cycle = step.next_cycle
    escalation.next_at = step.next_at
    escalation.state = EscalationState.ACTIVE if step.next_at else EscalationState.EXHAUSTED
    escalation.last_fired_at = now
    escalation.updated_at = now
    who = ", ".join(reached.labels) or "nobody"
    round_note = f" (repeat {step.cycle})" if step.cycle else ""
    return {
        "incident_id": escalation.incident_id,
        "kind": EventKind.ESCALATED,
        "at": now,
        "actor_user_id": None,
        "message": f"Level {level_index + 1}{round_note}: paged {who}",
        "data": {
            "level": level_index,
            "cycle": step.cycle,
            "user_ids": reached.user_ids,
            "channel_ids": reached.channel_ids,
        },
    }


def notify_management(
    session: Session,
    *,
    escalation: IncidentEscalation,
    now: datetime,
    links: LinkConfig,
    reason: str,
) -> None:
    """Tell the policy's management list about a SEV1/SEV2 incident (opened, or worse now)."""
    targets = escalation.snapshot.get("management_targets") or []
    context = escalation.snapshot["context"]
    if not targets or context["severity"] not in ("SEV1", "SEV2"):
        return
    page, _urgency = _page(escalation)
    reached = TargetResolver(session, now).resolve(targets)
    prefix = (
        f"inc{escalation.incident_id}-mgmt-{context['severity']}-t{int(now.timestamp() * 1000)}"
    )
    batch = notify.PlanBatch()
    _plan(batch, page, reached, "high", prefix, None, "management")
    batch.write(session, now=now, links=links)
    record_many(
        session,
        [
            {
                "incident_id": escalation.incident_id,
                "kind": EventKind.NOTIFIED,
                "at": now,
                "actor_user_id": None,
                "message": f"Management notified ({reason}): {', '.join(reached.labels)}",
                "data": {"management": True, "severity": context["severity"]},
            }
        ],
    )


def plan(session: Session, *, escalation: IncidentEscalation, now: datetime) -> list[PlanStep]:
    """The steps still to come, with who each reaches at the time it fires, as a person reads it:
    "level 2 — Bob (on call for Primary) at 03:07 if not acknowledged"."""
    levels = escalation.snapshot["levels"]
    _page_content, urgency = _page(escalation)
    if (
        escalation.state not in (EscalationState.ACTIVE, EscalationState.WAITING)
        or not escalation.next_at
    ):
        return []
    repeat = escalation.snapshot["repeat"] if urgency == "high" else 0
    if urgency != "high":
        levels = levels[:1]
    resolver = TargetResolver(session, now)
    steps: list[PlanStep] = []
    level, cycle, at = (
        min(escalation.next_level, len(levels) - 1),
        escalation.cycle,
        escalation.next_at,
    )
    for _ in range(len(levels) * (repeat + 1)):
        if at is None or cycle > repeat:
            break
        chosen = planner.pick_targets(
            levels[level]["targets"],
            mode=levels[level].get("mode", "all"),
            incident_id=escalation.incident_id,
            cycle=cycle,
        )
        reached = resolver.resolve(chosen, at=max(at, now))
        steps.append(
            PlanStep(level=level + 1, cycle=cycle, at=at, targets=reached.labels, fired=False)
        )
        step = planner.step(levels, repeat=repeat, level=level, cycle=cycle, now=at)
        level, cycle, at = step.next_level, step.next_cycle, step.next_at
    return steps


def audit(session: Session, *, now: datetime) -> int:
    """Count escalation steps overdue by more than a few seconds: a stalled engine shows here."""
    late = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(IncidentEscalation)
            .where(
                IncidentEscalation.state == EscalationState.ACTIVE,
                IncidentEscalation.next_at < now - AUDIT_GRACE,
            )
        )
        or 0
    )
    if late:
        OVERDUE.inc(late)
        log.warning("%d escalation step(s) overdue by more than %s", late, AUDIT_GRACE)
    return int(late)

"""Demo data for `make run`: a team, three people, an on-call schedule, an escalation policy,
two services with keys, email contact methods (printed to the console), and an API token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.accounts.schemas import TeamCreate, UserCreate
from vigil.escalation import service as escalation
from vigil.escalation.models import EscalationPolicy
from vigil.escalation.schemas import PolicyCreate
from vigil.incidents import comms
from vigil.incidents.comms import STAKEHOLDER_EVENTS
from vigil.notify import service as notify
from vigil.notify.schemas import ChannelCreate, ContactMethodCreate
from vigil.notify.service import LinkConfig
from vigil.schedules import service as schedules
from vigil.schedules.schemas import LayerCreate, Restriction, ScheduleCreate
from vigil.services import service as services
from vigil.services.models import GroupingMode, IntegrationType
from vigil.services.schemas import ServiceCreate, SupportHours


@dataclass
class DemoResult:
    token: str
    admin_email: str
    keys: dict[str, dict[str, str]]


def has_data(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(User)) != 0


def seed(session: Session, *, now: datetime, links: LinkConfig) -> DemoResult:
    """Create the demo; the caller commits."""
    team = accounts.create_team(
        session,
        data=TeamCreate(name="Platform", description="Runs checkout", time_zone="Europe/Berlin"),
        now=now,
    )
    people = [
        ("Alice Admin", "alice@example.com", "Europe/Berlin", Role.ADMIN),
        ("Bob Responder", "bob@example.com", "America/New_York", Role.RESPONDER),
        ("Carol Observer", "carol@example.com", "Asia/Tokyo", Role.OBSERVER),
    ]
    users = [
        accounts.create_user(
            session,
            data=UserCreate(name=name, email=email, time_zone=zone, role=role, team_ids=[team.id]),
            now=now,
        )
        for name, email, zone, role in people
    ]
    schedule_id = _demo_schedule(
        session, team_id=team.id, user_ids=[u.id for u in users[:2]], now=now
    )
    policy = _demo_policy(session, team_id=team.id, schedule_id=schedule_id, now=now)
    for user in users[:2]:
        # Demo pages arrive by email; without an SMTP host they are printed by `vigil serve`.
        method = notify.add_contact_method(
            session,
            user_id=user.id,
            data=ContactMethodCreate(kind="email", address=user.email),
            now=now,
            links=links,
        )
        notify.mark_verified(session, method_id=method.id, now=now)
    keys: dict[str, dict[str, str]] = {}
    for name, description, grouping, types in (
        (
            "checkout-api",
            "The storefront's checkout API",
            GroupingMode.LABELS,
            [IntegrationType.GENERIC, IntegrationType.ALERTMANAGER, IntegrationType.PROMETHEUS],
        ),
        (
            "payments-db",
            "PostgreSQL behind payments",
            GroupingMode.NONE,
            [IntegrationType.PAGERDUTY, IntegrationType.GRAFANA],
        ),
    ):
        service = services.create_service(
            session,
            data=ServiceCreate(
                name=name,
                description=description,
                team_id=team.id,
                grouping_mode=grouping,
                integration_types=types,
                escalation_policy_id=policy.id,
                support_hours=SupportHours(
                    time_zone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri"]
                ),
            ),
            now=now,
        )
        keys[name] = {
            k.type: k.key for k in services.list_integration_keys(session, service_id=service.id)
        }
    execs = notify.create_channel(
        session,
        data=ChannelCreate(name="Exec updates", kind="email", address="execs@example.com"),
        now=now,
    )
    for severity in ("SEV1", "SEV2"):
        comms.create_stakeholder_rule(
            session,
            severity=severity,
            channel_id=execs.id,
            events=list(STAKEHOLDER_EVENTS),
            now=now,
        )
    _token, plain = accounts.create_token(session, user_id=users[0].id, name="demo-cli", now=now)
    return DemoResult(token=plain, admin_email=users[0].email, keys=keys)


def _demo_policy(
    session: Session, *, team_id: int, schedule_id: int, now: datetime
) -> EscalationPolicy:
    """Whoever is on call first; after 5 minutes the whole team; once more if nobody answers."""
    return escalation.create_policy(
        session,
        data=PolicyCreate.model_validate(
            {
                "name": "Platform default",
                "team_id": team_id,
                "levels": [
                    {"targets": [{"type": "schedule", "id": schedule_id}], "delay_minutes": 5},
                    {"targets": [{"type": "team", "id": team_id}], "delay_minutes": 10},
                ],
                "repeat": 1,
            }
        ),
        now=now,
    )


def _demo_schedule(session: Session, *, team_id: int, user_ids: list[int], now: datetime) -> int:
    """A weekly primary rotation, with a weekday-hours layer on top, starting last Monday 09:00."""
    zone = ZoneInfo("Europe/Berlin")
    local = now.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0, tzinfo=None
    )
    if monday > local.replace(tzinfo=None):
        monday -= timedelta(days=7)
    schedule = schedules.create_schedule(
        session,
        data=ScheduleCreate(
            name="Platform on-call",
            team_id=team_id,
            time_zone="Europe/Berlin",
            description="Weekly primary, with weekday daytime cover on top",
            layers=[
                LayerCreate(
                    name="Weekly primary",
                    start=monday,
                    participants=user_ids,
                    rotation="weekly",
                    handoff_time="09:00",
                    handoff_day="mon",
                ),
                LayerCreate(
                    name="Weekday daytime",
                    start=monday,
                    participants=list(reversed(user_ids)),
                    rotation="daily",
                    handoff_time="09:00",
                    restrictions=[
                        Restriction(
                            type="weekly",
                            start_day="mon",
                            start_time="09:00",
                            end_day="fri",
                            end_time="17:00",
                        )
                    ],
                ),
            ],
        ),
        actor_id=None,
        now=now,
    )
    return schedule.id

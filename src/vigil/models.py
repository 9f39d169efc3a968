"""Every ORM model in one import, for migrations' autogenerate and for tests; nothing imports it
from inside a capability."""

from vigil.accounts.models import ApiToken, Team, TeamMembership, User
from vigil.alerts.models import Alert, AlertKey, AlertKeyMerge
from vigil.escalation.models import EscalationPolicy, IncidentEscalation
from vigil.incidents.models import (
    AnnouncementWindow,
    Follower,
    Incident,
    IncidentEvent,
    IncidentLink,
    IncidentRole,
    ResponsePlan,
    StakeholderRule,
    StatusUpdate,
    Task,
)
from vigil.notify.models import (
    ChannelDestination,
    ContactMethod,
    Notification,
    NotificationRule,
)
from vigil.schedules.models import CalendarFeed, LayerVersion, Override, Schedule, ScheduleLayer
from vigil.services.models import ChangeEvent, IntegrationKey, Service
from vigil.storage.base import Base
from vigil.storage.leases import Lease

__all__ = [
    "Alert",
    "AlertKey",
    "AlertKeyMerge",
    "AnnouncementWindow",
    "ApiToken",
    "Base",
    "CalendarFeed",
    "ChangeEvent",
    "ChannelDestination",
    "ContactMethod",
    "EscalationPolicy",
    "Follower",
    "Incident",
    "IncidentEscalation",
    "IncidentEvent",
    "IncidentLink",
    "IncidentRole",
    "IntegrationKey",
    "LayerVersion",
    "Lease",
    "Notification",
    "NotificationRule",
    "Override",
    "ResponsePlan",
    "Schedule",
    "ScheduleLayer",
    "Service",
    "StakeholderRule",
    "StatusUpdate",
    "Task",
    "Team",
    "TeamMembership",
    "User",
]

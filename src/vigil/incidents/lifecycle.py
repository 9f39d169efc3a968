"""The incident lifecycle as data: which moves are allowed, and what each phase means.

triggered → acknowledged → investigating → identified → monitoring → resolved. Any open phase may
jump ahead (a fix found at once goes straight to monitoring or resolved); monitoring may go back
to investigating when the fix did not hold; a resolved incident can be reopened, into
investigating, within seven days.
"""

from __future__ import annotations

from datetime import timedelta

from vigil.incidents.models import IncidentStatus as S

REOPEN_WINDOW = timedelta(days=7)

ALLOWED: dict[S, tuple[S, ...]] = {
    S.TRIGGERED: (S.ACKNOWLEDGED, S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED),
    S.ACKNOWLEDGED: (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED),
    S.INVESTIGATING: (S.IDENTIFIED, S.MONITORING, S.RESOLVED),
    S.IDENTIFIED: (S.MONITORING, S.RESOLVED),
    S.MONITORING: (S.INVESTIGATING, S.RESOLVED),
    S.RESOLVED: (S.INVESTIGATING,),
}

PHASE_FIELD: dict[S, str] = {
    S.ACKNOWLEDGED: "acknowledged_at",
    S.INVESTIGATING: "investigating_at",
    S.IDENTIFIED: "identified_at",
    S.MONITORING: "monitoring_at",
    S.RESOLVED: "resolved_at",
}


def allowed_moves(current: str) -> tuple[S, ...]:
    return ALLOWED[S(current)]


def is_allowed(current: str, target: str) -> bool:
    return S(target) in ALLOWED[S(current)]


ROLE_DUTIES: dict[str, list[str]] = {
    "commander": [
        "Own the incident until you hand it over; decide, delegate, and keep everyone on one plan.",
        "Set the severity and phase, and say when it is resolved.",
        "Make sure stakeholders get updates on cadence (or a communications manager does).",
    ],
    "technical_lead": [
        "Lead the technical investigation and the fix.",
        "Tell the commander what you know, what you are trying, and what you need.",
    ],
    "communications_manager": [
        "Write stakeholder and public updates on cadence: SEV1 every 30 min, SEV2 every 60.",
        "Be the one voice to stakeholders; route their questions away from responders.",
    ],
    "scribe": [
        "Keep the timeline: decisions, actions and their times, as notes (pin the key ones).",
        "Record who did what, so the postmortem writes itself.",
    ],
    "subject_matter_expert": [
        "Bring your system's knowledge; say what you see and what you change before you change it.",
    ],
}

SEVERITY_GUIDANCE: dict[str, str] = {
    "SEV1": "Complete outage, major customer impact, revenue loss, security breach or data loss.",
    "SEV2": "Partial degradation, significant customer impact, or compliance exposure.",
    "SEV3": "Minor impact with a workaround.",
    "SEV4": "Minimal, internal or cosmetic.",
}

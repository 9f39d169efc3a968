"""Teams, users and API tokens: plain functions over a session that never commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.accounts.models import ApiToken, Role, Team, TeamMembership, User
from vigil.accounts.schemas import TeamCreate, TeamUpdate, UserCreate, UserUpdate
from vigil.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

TOKEN_PREFIX = "vgl_"
# Writing last_used_at on every request would make every read a write; once a minute is plenty.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_team(session: Session, *, data: TeamCreate, now: datetime) -> Team:
    """Create a team; names are unique."""
    _ensure_free_team_name(session, data.name)
    team = Team(**data.model_dump(), created_at=now)
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, *, team_id: int, data: TeamUpdate) -> Team:
    team = get_team(session, team_id=team_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes and changes["name"] != team.name:
        _ensure_free_team_name(session, changes["name"])
    for name, value in changes.items():
        setattr(team, name, value)
    session.flush()
    return team


def _ensure_free_team_name(session: Session, name: str) -> None:
    if session.scalar(sa.select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(f"a team named {name!r} already exists", field="name")


def get_team(session: Session, *, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found", field="team_id")
    return team


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(sa.select(Team).order_by(Team.name)))


def member_ids(session: Session, *, team_id: int) -> list[int]:
    return list(
        session.scalars(
            sa.select(TeamMembership.user_id)
            .where(TeamMembership.team_id == team_id)
            .order_by(TeamMembership.user_id)
        )
    )


def team_ids_of(session: Session, *, user_id: int) -> list[int]:
    return list(
        session.scalars(
            sa.select(TeamMembership.team_id)
            .where(TeamMembership.user_id == user_id)
            .order_by(TeamMembership.team_id)
        )
    )


def create_user(session: Session, *, data: UserCreate, now: datetime) -> User:
    """Create a user, and their team memberships; emails are unique."""
    if session.scalar(sa.select(User.id).where(User.email == data.email)) is not None:
        raise Conflict(f"a user with email {data.email!r} already exists", field="email")
    user = User(**data.model_dump(exclude={"team_ids"}), created_at=now)
    session.add(user)
    session.flush()
    _set_teams(session, user_id=user.id, team_ids=data.team_ids)
    return user


def update_user(session: Session, *, user_id: int, data: UserUpdate) -> User:
    user = get_user(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True, exclude={"team_ids"})
    if "email" in changes and changes["email"] != user.email:
        taken = session.scalar(sa.select(User.id).where(User.email == changes["email"]))
        if taken is not None:
            raise Conflict(f"a user with email {changes['email']!r} already exists", field="email")
    for name, value in changes.items():
        setattr(user, name, value)
    if data.team_ids is not None:
        session.execute(sa.delete(TeamMembership).where(TeamMembership.user_id == user_id))
        _set_teams(session, user_id=user_id, team_ids=data.team_ids)
    session.flush()
    return user


def _set_teams(session: Session, *, user_id: int, team_ids: list[int]) -> None:
    for index, team_id in enumerate(dict.fromkeys(team_ids)):
        if session.get(Team, team_id) is None:
            raise ValidationFailed(f"team {team_id} does not exist", field=f"team_ids[{index}]")
        session.add(TeamMembership(team_id=team_id, user_id=user_id))
    session.flush()


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return user


def find_user(session: Session, *, ref: str) -> User:
    """A user by id, email, or the part of the email before the @ (`alice`)."""
    if ref.isdigit():
        return get_user(session, user_id=int(ref))
    ref = ref.lower()
    user = session.scalar(sa.select(User).where(User.email == ref))
    if user is None:
        matches = list(session.scalars(sa.select(User).where(User.email.like(f"{ref}@%"))))
        user = matches[0] if len(matches) == 1 else None
    if user is None:
        raise NotFound(f"user {ref!r} not found", field="user")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.name, User.id)))


def create_token(
    session: Session, *, user_id: int, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """A new API token for the user; the plain token is returned once and never stored."""
    get_user(session, user_id=user_id)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=hash_token(plain),
        prefix=plain[:12],
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, plain


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    query = sa.select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_token(session: Session, *, token_id: int, actor: User | None, now: datetime) -> ApiToken:
    """Revoke a token; users revoke their own, admins anyone's."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} not found", field="token_id")
    if actor is not None and actor.role != Role.ADMIN and token.user_id != actor.id:
        raise Forbidden("only admins can revoke other users' tokens")
    if token.revoked_at is None:
        token.revoked_at = now
    session.flush()
    return token


def authenticate(session: Session, *, token: str) -> tuple[User, ApiToken]:
    """The user behind a bearer token, or Unauthorized for a missing, wrong or revoked one."""
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise Unauthorized("invalid API token")
    api_token, user = row
    if api_token.revoked_at is not None:
        raise Unauthorized("this API token has been revoked")
    return user, api_token


def needs_touch(token: ApiToken, *, now: datetime) -> bool:
    """Whether last_used_at is stale enough to be worth a write."""
    return token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION


def touch_token(session: Session, *, token_id: int, now: datetime) -> None:
    session.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def require_role(user: User, *roles: Role) -> None:
    if user.role not in roles:
        allowed = " or ".join(roles)
        raise Forbidden(f"this needs the {allowed} role; you are {user.role}")

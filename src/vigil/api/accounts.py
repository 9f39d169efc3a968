"""REST: teams, users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, Team, User
from vigil.accounts.schemas import (
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from vigil.api.deps import Admin, CurrentUser, Now, PathId, ReadSession, WriteSession
from vigil.api.errors import error_responses
from vigil.errors import Forbidden
from vigil.schedules import service as schedules

router = APIRouter(prefix="/api/v1", tags=["teams and users"])


def team_read(session: ReadSession | WriteSession, team: Team) -> TeamRead:
    read = TeamRead.model_validate(team)
    read.member_ids = accounts.member_ids(session, team_id=team.id)
    return read


def user_read(session: ReadSession | WriteSession, user: User) -> UserRead:
    read = UserRead.model_validate(user)
    read.team_ids = accounts.team_ids_of(session, user_id=user.id)
    return read


@router.get("/teams", response_model=list[TeamRead], responses=error_responses(401))
def list_teams(session: ReadSession, _user: CurrentUser) -> list[TeamRead]:
    return [team_read(session, t) for t in accounts.list_teams(session)]


@router.post(
    "/teams",
    response_model=TeamRead,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
def create_team(body: TeamCreate, session: WriteSession, _user: Admin, now: Now) -> TeamRead:
    team = accounts.create_team(session, data=body, now=now)
    read = team_read(session, team)
    session.commit()
    return read


@router.get("/teams/{team_id}", response_model=TeamRead, responses=error_responses(401, 404))
def get_team(team_id: PathId, session: ReadSession, _user: CurrentUser) -> TeamRead:
    return team_read(session, accounts.get_team(session, team_id=team_id))


@router.patch(
    "/teams/{team_id}", response_model=TeamRead, responses=error_responses(401, 403, 404, 409, 422)
)
def update_team(team_id: PathId, body: TeamUpdate, session: WriteSession, _user: Admin) -> TeamRead:
    team = accounts.update_team(session, team_id=team_id, data=body)
    read = team_read(session, team)
    session.commit()
    return read


@router.get("/users", response_model=list[UserRead], responses=error_responses(401))
def list_users(session: ReadSession, _user: CurrentUser) -> list[UserRead]:
    return [user_read(session, u) for u in accounts.list_users(session)]


@router.post(
    "/users",
    response_model=UserRead,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
def create_user(body: UserCreate, session: WriteSession, _user: Admin, now: Now) -> UserRead:
    user = accounts.create_user(session, data=body, now=now)
    read = user_read(session, user)
    session.commit()
    return read


@router.get("/users/me", response_model=UserRead, responses=error_responses(401))
def me(session: ReadSession, user: CurrentUser) -> UserRead:
    return user_read(session, accounts.get_user(session, user_id=user.id))


@router.get("/users/{user_id}", response_model=UserRead, responses=error_responses(401, 404))
def get_user(user_id: PathId, session: ReadSession, _user: CurrentUser) -> UserRead:
    return user_read(session, accounts.get_user(session, user_id=user_id))


@router.patch(
    "/users/{user_id}", response_model=UserRead, responses=error_responses(401, 403, 404, 409, 422)
)
def update_user(
    user_id: PathId, body: UserUpdate, session: WriteSession, actor: CurrentUser, now: Now
) -> UserRead:
    """Admins edit anyone; people edit their own name, email and time zone."""
    if actor.role != Role.ADMIN and (
        actor.id != user_id or body.role is not None or body.team_ids is not None
    ):
        raise Forbidden("only admins can edit other users, roles and team membership")
    schedules.ensure_can_leave_teams(session, user_id=user_id, new_team_ids=body.team_ids, now=now)
    user = accounts.update_user(session, user_id=user_id, data=body)
    read = user_read(session, user)
    session.commit()
    return read


@router.get("/tokens", response_model=list[TokenRead], responses=error_responses(401))
def list_tokens(session: ReadSession, user: CurrentUser) -> list[TokenRead]:
    """Your tokens; admins see everyone's."""
    owner = None if user.role == Role.ADMIN else user.id
    return [TokenRead.model_validate(t) for t in accounts.list_tokens(session, user_id=owner)]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_token(
    body: TokenCreate, session: WriteSession, user: CurrentUser, now: Now
) -> TokenCreated:
    """A new token, shown once. Admins may create tokens for other users."""
    owner = body.user_id or user.id
    if owner != user.id and user.role != Role.ADMIN:
        raise Forbidden("only admins can create tokens for other users")
    token, plain = accounts.create_token(session, user_id=owner, name=body.name, now=now)
    read = TokenCreated(**TokenRead.model_validate(token).model_dump(), token=plain)
    session.commit()
    return read


@router.delete(
    "/tokens/{token_id}", response_model=TokenRead, responses=error_responses(401, 403, 404)
)
def revoke_token(token_id: PathId, session: WriteSession, user: CurrentUser, now: Now) -> TokenRead:
    token = accounts.revoke_token(session, token_id=token_id, actor=user, now=now)
    session.commit()
    return TokenRead.model_validate(token)

"""Dependencies that make routes read like prose: `session: WriteSession, user: Responder`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Role, User
from vigil.clock import Clock
from vigil.config import Settings
from vigil.errors import Unauthorized
from vigil.storage.db import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> datetime:
    return clock.now()


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    session = db.read_session()
    try:
        yield session
    finally:
        session.close()


def write_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A write transaction; the route commits it before answering, anything else rolls back."""
    session = db.write_session()
    try:
        yield session
    finally:
        session.close()


_bearer = HTTPBearer(auto_error=False, description="An API token from `vigil token create`.")


def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    db: Annotated[Database, Depends(get_db)],
    now: Annotated[datetime, Depends(get_now)],
) -> User:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API token: send `Authorization: Bearer <token>`")
    with db.read_session() as session:
        user, token = accounts.authenticate(session, token=credentials.credentials)
        session.expunge(user)
        stale = accounts.needs_touch(token, now=now)
        token_id = token.id
    if stale:
        with db.unit_of_work() as session:
            accounts.touch_token(session, token_id=token_id, now=now)
    return user


def responder(user: Annotated[User, Depends(current_user)]) -> User:
    accounts.require_role(user, Role.ADMIN, Role.RESPONDER)
    return user


def admin(user: Annotated[User, Depends(current_user)]) -> User:
    accounts.require_role(user, Role.ADMIN)
    return user


# Ids in paths: bounded so an absurd one is a clear 422, never a database error.
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ReadSession = Annotated[Session, Depends(read_session)]
WriteSession = Annotated[Session, Depends(write_session)]
Now = Annotated[datetime, Depends(get_now)]
CurrentUser = Annotated[User, Depends(current_user)]
Responder = Annotated[User, Depends(responder)]
Admin = Annotated[User, Depends(admin)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Db = Annotated[Database, Depends(get_db)]

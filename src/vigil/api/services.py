"""REST: services and their integration keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vigil.api.deps import Admin, AppSettings, CurrentUser, Now, PathId, ReadSession, WriteSession
from vigil.api.errors import error_responses
from vigil.incidents import service as incidents
from vigil.services import service as services
from vigil.services.models import IntegrationKey, Service
from vigil.services.schemas import (
    IntegrationKeyCreate,
    IntegrationKeyRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)
from vigil.services.snippets import integration_urls

router = APIRouter(prefix="/api/v1/services", tags=["services"])


def key_read(key: IntegrationKey, base_url: str) -> IntegrationKeyRead:
    read = IntegrationKeyRead.model_validate(key)
    read.urls = integration_urls(base_url, key.key)
    return read


def service_read(
    session: ReadSession | WriteSession, service: Service, base_url: str
) -> ServiceRead:
    read = ServiceRead.model_validate(service)
    read.integration_keys = [
        key_read(k, base_url)
        for k in services.list_integration_keys(session, service_id=service.id)
    ]
    return read


@router.get("", response_model=list[ServiceRead], responses=error_responses(401))
def list_services(
    session: ReadSession, _user: CurrentUser, settings: AppSettings
) -> list[ServiceRead]:
    return [service_read(session, s, settings.base_url) for s in services.list_services(session)]


@router.post(
    "", response_model=ServiceRead, status_code=201, responses=error_responses(401, 403, 409, 422)
)
def create_service(
    body: ServiceCreate, session: WriteSession, _user: Admin, now: Now, settings: AppSettings
) -> ServiceRead:
    """Create a service; it gets one integration key per `integration_types` entry."""
    service = services.create_service(session, data=body, now=now)
    read = service_read(session, service, settings.base_url)
    session.commit()
    return read


@router.get("/{service_id}", response_model=ServiceRead, responses=error_responses(401, 404))
def get_service(
    service_id: PathId, session: ReadSession, _user: CurrentUser, settings: AppSettings
) -> ServiceRead:
    return service_read(
        session, services.get_service(session, service_id=service_id), settings.base_url
    )


@router.patch(
    "/{service_id}", response_model=ServiceRead, responses=error_responses(401, 403, 404, 409, 422)
)
def update_service(
    service_id: PathId,
    body: ServiceUpdate,
    session: WriteSession,
    _user: Admin,
    now: Now,
    settings: AppSettings,
) -> ServiceRead:
    service = services.update_service(session, service_id=service_id, data=body, now=now)
    read = service_read(session, service, settings.base_url)
    session.commit()
    return read


@router.delete("/{service_id}", status_code=204, responses=error_responses(401, 403, 404, 409))
def delete_service(service_id: PathId, session: WriteSession, _user: Admin) -> Response:
    """Delete a service with its alerts, incidents and keys; refused while it has open incidents."""
    incidents.delete_service(session, service_id=service_id)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/{service_id}/integration-keys",
    response_model=list[IntegrationKeyRead],
    responses=error_responses(401, 404),
)
def list_keys(
    service_id: PathId, session: ReadSession, _user: CurrentUser, settings: AppSettings
) -> list[IntegrationKeyRead]:
    services.get_service(session, service_id=service_id)
    return [
        key_read(k, settings.base_url)
        for k in services.list_integration_keys(session, service_id=service_id)
    ]


@router.post(
    "/{service_id}/integration-keys",
    response_model=IntegrationKeyRead,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_key(
    service_id: PathId,
    body: IntegrationKeyCreate,
    session: WriteSession,
    _user: Admin,
    now: Now,
    settings: AppSettings,
) -> IntegrationKeyRead:
    key = services.create_integration_key(session, service_id=service_id, data=body, now=now)
    read = key_read(key, settings.base_url)
    session.commit()
    return read


@router.delete(
    "/{service_id}/integration-keys/{key_id}",
    response_model=IntegrationKeyRead,
    responses=error_responses(401, 403, 404),
)
def revoke_key(
    service_id: PathId,
    key_id: PathId,
    session: WriteSession,
    _user: Admin,
    now: Now,
    settings: AppSettings,
) -> IntegrationKeyRead:
    """Revoke a key: senders using it get 404 from then on."""
    key = services.revoke_integration_key(session, service_id=service_id, key_id=key_id, now=now)
    read = key_read(key, settings.base_url)
    session.commit()
    return read

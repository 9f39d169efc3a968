"""Statements run straight on the driver store and read values exactly as SQLAlchemy's column
types do, share the session's transaction, and fail with SQLAlchemy's own errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.clock import ensure_utc
from vigil.incidents.models import Incident, IncidentStatus
from vigil.storage.driver import COPY_FROM_ROWS, Driver, Insert, Query, Sql
from vigil.timeline.models import IncidentEvent

_INCIDENTS = Insert(Incident.__table__)
_EVENTS = Insert(IncidentEvent.__table__, with_id=False)


def _incident_row(**values: object) -> dict[str, object]:
    return {
        "title": "Disk full",
        "service_id": None,
        "severity": "SEV2",
        "urgency": "high",
        "status": IncidentStatus.TRIGGERED,
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


def _inserted_and_read_back(
    session: Session, driver: Driver, rows: list[dict[str, object]]
) -> list[Incident]:
    """Insert incident rows on the driver, then read each back through the ORM, afresh."""
    driver.insert(_INCIDENTS, rows)
    session.expire_all()
    incidents = [session.get(Incident, row["id"]) for row in rows]
    assert None not in incidents
    return [incident for incident in incidents if incident is not None]


def test_rows_written_on_the_driver_read_back_through_the_orm_as_written(
    session: Session,
) -> None:
    driver = Driver(session)
    (incident_id,) = driver.next_ids("incidents", 1)
    started = datetime(2026, 3, 2, 8, 59, 30, 123456, tzinfo=UTC)
    driver.insert(
        _INCIDENTS,
        [_incident_row(id=incident_id, started_at=started, affected_service_ids=[3, 4])],
    )
    incident = session.get(Incident, incident_id)
    assert incident is not None
    assert incident.status == "triggered"
    assert incident.started_at == started
    assert incident.created_at == T0
    assert incident.affected_service_ids == [3, 4]
    assert incident.impact == {}  # the model's default
    assert incident.severity_set_by_user is False
    assert incident.acknowledged_at is None


@pytest.mark.parametrize("count", [1, 5, COPY_FROM_ROWS + 4], ids=["one", "a few", "copy"])
def test_a_batch_reads_back_as_written_whatever_its_text(session: Session, count: int) -> None:
    """PostgreSQL writes small batches as one JSON document and from COPY_FROM_ROWS on through
    COPY: text with tabs, newlines, backslashes and quotes, JSON, NULLs, booleans and timestamps
    must come back as written either way."""
    driver = Driver(session)
    ids = driver.next_ids("incidents", count)
    awkward = 'tab\there\nnew line \\N back\\slash "quoted" \u00e9t\u00e9 \U0001f525'
    rows = [
        _incident_row(
            id=incident_id,
            title=f"{awkward} #{n}",
            description="" if n % 2 else "\\.",
            severity_set_by_user=bool(n % 2),
            started_at=None if n % 3 else T0 + timedelta(microseconds=n),
            affected_service_ids=[n, {"nested": awkward}],
        )
        for n, incident_id in enumerate(ids)
    ]
    for n, incident in enumerate(_inserted_and_read_back(session, driver, rows)):
        assert incident.title == f"{awkward} #{n}"
        assert incident.description == ("" if n % 2 else "\\.")
        assert incident.severity_set_by_user is bool(n % 2)
        assert incident.started_at == (None if n % 3 else T0 + timedelta(microseconds=n))
        assert incident.affected_service_ids == [n, {"nested": awkward}]
        assert incident.status == "triggered"


@pytest.mark.parametrize("count", [1, 5, COPY_FROM_ROWS + 4], ids=["one", "a few", "copy"])
def test_timestamps_read_back_as_the_same_moment_whatever_their_zone(
    session: Session, count: int
) -> None:
    """Moments given in UTC, in another zone or naive (read as UTC) come back as the same
    instant in UTC, to the microsecond, on every path a batch can take (COPY formats them
    itself, `postgres_copy_datetime`)."""
    east = timezone(timedelta(hours=5, minutes=30))
    given = [
        T0 + timedelta(microseconds=7),
        datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=east),
        datetime(1999, 12, 31, 23, 0, 0, 1),  # naive: UTC
    ]
    driver = Driver(session)
    ids = driver.next_ids("incidents", count)
    rows = [
        _incident_row(id=incident_id, started_at=given[n % 3], created_at=given[(n + 1) % 3])
        for n, incident_id in enumerate(ids)
    ]
    for n, incident in enumerate(_inserted_and_read_back(session, driver, rows)):
        for stored, sent in (
            (incident.started_at, given[n % 3]),
            (incident.created_at, given[(n + 1) % 3]),
        ):
            assert stored == ensure_utc(sent)
            assert stored.utcoffset() == timedelta(0)


def _in_order(insert: Insert, values: dict[str, object]) -> tuple[object, ...]:
    """A row for `insert_values`: every column in the `Insert`'s order, defaults filled in."""
    return tuple(values.get(name, default) for name, default in insert.columns_with_defaults)


def _flushed_and_read_back(session: Session, driver: Driver, ids: list[int]) -> list[Incident]:
    driver.flush()
    session.expire_all()
    incidents = [session.get(Incident, incident_id) for incident_id in ids]
    assert None not in incidents
    return incidents  # type: ignore[return-value]


@pytest.mark.parametrize("count", [1, 5, COPY_FROM_ROWS + 4], ids=["one", "a few", "copy"])
@pytest.mark.parametrize("later", [False, True], ids=["now", "later"])
def test_rows_given_as_tuples_read_back_as_written(
    session: Session, count: int, later: bool
) -> None:
    """`insert_values` (the ingest writer's alerts): tuples in the `Insert`'s own column order,
    here the table's order reversed, whatever path PostgreSQL takes for their number."""
    order = [c.name for c in Incident.__table__.columns if c.computed is None][::-1]
    insert = Insert(Incident.__table__, order=order)
    driver = Driver(session)
    ids = driver.next_ids("incidents", count)
    rows = []
    for n, incident_id in enumerate(ids):
        values = _incident_row(
            id=incident_id,
            title=f"tab\there #{n}",
            description="",
            severity_set_by_user=bool(n % 2),
            started_at=T0 + timedelta(microseconds=n),
            affected_service_ids=[n],
        )
        rows.append(_in_order(insert, values))
    driver.insert_values(insert, rows, later=later)
    for n, incident in enumerate(_flushed_and_read_back(session, driver, ids)):
        assert incident.title == f"tab\there #{n}"
        assert incident.severity_set_by_user is bool(n % 2)
        assert incident.started_at == T0 + timedelta(microseconds=n)
        assert incident.affected_service_ids == [n]
        assert incident.status == "triggered"


@pytest.mark.parametrize("count", [1, 5, COPY_FROM_ROWS + 4], ids=["one", "a few", "copy"])
def test_rows_sharing_their_last_columns_read_back_as_written(session: Session, count: int) -> None:
    """`insert_values(tail=...)`: SQLite spells the shared values out in the statement, quotes
    and all; PostgreSQL gets whole rows. Either way each row reads back as if written whole."""
    shared = ("title", "acknowledged_at", "started_at", "severity_set_by_user", "description")
    order = [c.name for c in Incident.__table__.columns if c.computed is None]
    order = [name for name in order if name not in shared] + list(shared)
    insert = Insert(Incident.__table__, order=order)
    awkward = "it's \"quoted\" '); DROP TABLE incidents; -- \u00e9t\u00e9 \U0001f525"
    tail = (awkward, None, T0 + timedelta(microseconds=7), True, "")
    driver = Driver(session)
    ids = driver.next_ids("incidents", count)
    heads = []
    for n, incident_id in enumerate(ids):
        values = _incident_row(id=incident_id, affected_service_ids=[n])
        heads.append(_in_order(insert, values)[: -len(tail)])
    driver.insert_values(insert, heads, tail=tail)
    for n, incident in enumerate(_flushed_and_read_back(session, driver, ids)):
        assert (incident.title, incident.acknowledged_at) == (awkward, None)
        assert incident.started_at == T0 + timedelta(microseconds=7)
        assert incident.severity_set_by_user is True
        assert incident.affected_service_ids == [n]


def test_a_column_order_must_name_every_column_once() -> None:
    columns = [c.name for c in Incident.__table__.columns if c.computed is None]
    with pytest.raises(ValueError, match="once each"):
        Insert(Incident.__table__, order=columns[1:])
    with pytest.raises(ValueError, match="once each"):
        Insert(Incident.__table__, order=[*columns, columns[0]])


@pytest.mark.parametrize("count", [1, 5], ids=["one", "a few"])
def test_updated_rows_read_back_as_set_whatever_their_text(session: Session, count: int) -> None:
    driver = Driver(session)
    ids = driver.next_ids("incidents", count)
    driver.insert(_INCIDENTS, [_incident_row(id=incident_id) for incident_id in ids])
    awkward = 'tab\there\nnew line \\N back\\slash "quoted" \u00e9t\u00e9 \U0001f525'
    later = T0 + timedelta(hours=1, microseconds=7)
    driver.update(
        Incident.__table__,
        ["title", "impact", "acknowledged_at", "severity_set_by_user"],
        [
            {
                "id": incident_id,
                "title": f"{awkward} #{n}",
                "impact": {"customers": awkward, "n": n},
                "acknowledged_at": later,
                "severity_set_by_user": True,
            }
            for n, incident_id in enumerate(ids)
        ],
    )
    session.expire_all()
    for n, incident_id in enumerate(ids):
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.title == f"{awkward} #{n}"
        assert incident.impact == {"customers": awkward, "n": n}
        assert incident.acknowledged_at == later
        assert incident.severity_set_by_user is True
        assert incident.severity == "SEV2"  # not among the columns set


def test_ids_taken_first_are_the_ids_the_rows_get(session: Session) -> None:
    driver = Driver(session)
    ids = driver.next_ids("incidents", 3)
    assert ids == sorted(ids) and len(set(ids)) == 3
    driver.insert(_INCIDENTS, [_incident_row(id=i, title=f"#{i}") for i in ids])
    titles = dict(session.execute(sa.select(Incident.id, Incident.title)).all())
    assert [titles[i] for i in ids] == [f"#{i}" for i in ids]


def test_a_list_parameter_matches_every_member_whatever_its_length(session: Session) -> None:
    driver = Driver(session)
    ids = driver.next_ids("incidents", 5)
    driver.insert(_INCIDENTS, [_incident_row(id=i) for i in ids])
    wanted = Sql("SELECT id FROM incidents WHERE id {ids} ORDER BY id")
    assert [row[0] for row in driver.rows(wanted, ids=ids[1:4])] == ids[1:4]
    assert driver.rows(wanted, ids=[]) == []


def test_query_rows_hold_what_the_orm_would_read(session: Session) -> None:
    driver = Driver(session)
    (incident_id,) = driver.next_ids("incidents", 1)
    driver.insert(_INCIDENTS, [_incident_row(id=incident_id, severity_set_by_user=True)])
    table = Incident.__table__
    query = Query(
        "SELECT created_at, severity_set_by_user, impact, resolved_at FROM incidents"
        " WHERE id = :id",
        [table.c.created_at, table.c.severity_set_by_user, table.c.impact, table.c.resolved_at],
    )
    (row,) = driver.records(query, id=incident_id)
    assert row.created_at == T0 and row.created_at.tzinfo is not None
    assert row.severity_set_by_user is True
    assert row.impact == {}
    assert row.resolved_at is None


def test_timestamp_parameters_compare_like_stored_timestamps(session: Session) -> None:
    driver = Driver(session)
    ids = driver.next_ids("incidents", 2)
    driver.insert(
        _INCIDENTS,
        [
            _incident_row(id=ids[0], created_at=T0 - timedelta(hours=2)),
            _incident_row(id=ids[1], created_at=T0),
        ],
    )
    newer = Sql("SELECT id FROM incidents WHERE id {ids} AND created_at >= :since")
    since = (T0 - timedelta(hours=1)).astimezone(UTC)
    assert [row[0] for row in driver.rows(newer, ids=ids, since=since)] == [ids[1]]


def test_a_driver_error_is_raised_as_sqlalchemys(session: Session) -> None:
    driver = Driver(session)
    (incident_id,) = driver.next_ids("incidents", 1)
    missing_parent = {
        "incident_id": incident_id + 1000,
        "kind": "note",
        "at": T0,
        "message": "orphan",
        "data": {},
    }
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        Driver(session).insert(_EVENTS, [missing_parent])


def test_columns_only_the_database_defaults_cannot_be_left_out() -> None:
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("n", sa.Integer, server_default="0"),
    )
    with pytest.raises(ValueError, match="Python default"):
        Insert(table)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_statement_text_keeps_casts_and_names_every_parameter(name_tail: str) -> None:
    name = "p" + "".join(c for c in name_tail if c.isalnum() and c.isascii())
    sql = Sql(f"SELECT CAST(:{name} AS TEXT)::text, x FROM t WHERE y {{keys}} AND z = :{name}")
    assert sql.names == [name, "keys", name]
    assert sql.sqlite.count("?") == 3 and "::text" in sql.sqlite
    assert sql.postgres.count("%s") == 3 and "= ANY(%s)" in sql.postgres

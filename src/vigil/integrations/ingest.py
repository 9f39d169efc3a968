"""The ingest pipeline: parsed alert events → dedup → grouping → incidents, in one transaction.

It works set-based (a handful of statements per request, whatever the batch size) because a
Prometheus or Alertmanager batch of 100 alerts must cost about as much as one. Events are first
applied in order to an in-memory picture of the affected alerts, then written in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.alerts.dedup import recent_keys
from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.keys import grouper
from vigil.alerts.models import Alert, AlertStatus
from vigil.alerts.severity import map_severity, worst
from vigil.incidents import command as incident_command
from vigil.incidents import paging
from vigil.incidents.comms import CommandConfig
from vigil.incidents.models import EventKind, Incident, IncidentEvent, IncidentStatus
from vigil.services.models import GroupingMode, Service
from vigil.storage.driver import Driver, Insert, Sql, id_sequence, parse_sqlite_datetime

# Integrations whose resolves are explicit: a late duplicate of a firing message (a retry that
# lost the race with its own resolve) carries the resolved alert's startsAt and is dropped.
_EXPLICIT_RESOLVE_SOURCES = {"alertmanager", "grafana"}
_CHUNK = 500

# The ingest path runs its statements straight on the driver (`vigil.storage.driver`): it runs
# for every inbound request, and SQLAlchemy's execution cost more than the statements
# themselves. Literal statuses let SQLite use the partial indexes on open alerts and incidents.
_FIRING = AlertStatus.FIRING.value
_RESOLVED = AlertStatus.RESOLVED.value
# NO KEY UPDATE: ingest transactions of one service wait for each other, but other transactions
# inserting rows that refer to the service (a declared incident) check their key without waiting.
_LOCK_SERVICE = Sql("SELECT id FROM services WHERE id = :service_id FOR NO KEY UPDATE")


_INCIDENT_RESOLVED = IncidentStatus.RESOLVED.value


def _each_key(tag: str, columns: str, keys: str, subquery: str) -> str:
    """PostgreSQL's text of one part of `_SELECT_KNOWN`: `subquery` run once per key (`k.key`).

    With `key = ANY(:keys)` on the second column of an index, PostgreSQL may instead scan every
    row of the service in that index and filter by key, and does when its statistics predate the
    service: a new service in an alert storm read all its firing alerts at every commit, so
    each commit cost more than the last. A lateral subquery per key leaves the planner only the
    lookup, whatever statistics it has, so the ingest writer keeps one plan for all values;
    `OFFSET 0` keeps it from flattening the subquery back into a join. The keys come as one
    JSON array: psycopg dumps a list of strings in Python, a regular expression per string.
    """
    return (
        f"SELECT '{tag}', {columns} FROM jsonb_array_elements_text(:{keys}) AS k(key)"
        f" CROSS JOIN LATERAL ({subquery} OFFSET 0) AS a"
    )


# Everything a pass needs to know before it decides, in one statement (each statement is a round
# trip and ~150 µs of client and server time on PostgreSQL): rows tagged
#   'f' — firing alerts of the pass's keys;
#   'r' — resolved alerts of keys about to fire (none firing): late duplicates (their startsAt),
#         and alerts firing again in an incident they had already been part of;
#   'g' — open incidents of the groups of the pass's triggers, opened within the window;
#   'i' — on PostgreSQL, ids drawn for the alerts (and, ungrouped, incidents) the pass will
#         open, one per trigger key not firing; SQLite takes the next rowids as it inserts.
# Columns: tag, id, key, incident_id, severity, event_count, acknowledged_at, starts_at (an
# incident's created_at), summary, severity_set_by_user, second id.
_FIRING_COLUMNS = (
    "id, dedup_key, incident_id, severity, event_count, acknowledged_at, starts_at, summary"
)


_OPEN_GROUP = (
    f"service_id = :service_id AND status != '{_INCIDENT_RESOLVED}' AND created_at >= :window_start"
)
_LATEST = f"SELECT CASE WHEN open_marker = 1 THEN 'f' ELSE 'r' END, {_FIRING_COLUMNS}, NULL, NULL"
_SELECT_KNOWN = Sql(
    # SQLite looks keys up in two tiers (`vigil.alerts.dedup`): each key's latest alert, from
    # `alert_keys` for the keys the recent tier does not hold (its latest there is the largest
    # id) and by id for those it holds. A key's latest alert is its only firing one, if any: a
    # key fires again only as a new alert. Resolved alerts are read apart (`_SELECT_RESOLVED`),
    # for the few keys that fire again.
    f"{_LATEST} FROM alerts WHERE id IN (SELECT MAX(alert_id) FROM alert_keys"
    " WHERE service_id = :service_id AND dedup_key {merged_keys} GROUP BY dedup_key)"
    f" UNION ALL {_LATEST} FROM alerts WHERE id {{recent_latest}}"
    " UNION ALL SELECT 'g', id, group_key, NULL, severity, NULL, NULL, created_at, NULL,"
    " severity_set_by_user, NULL FROM incidents"
    f" WHERE {_OPEN_GROUP} AND group_key {{group_keys}}",
    json=("keys", "new_flags", "draw_flags", "group_keys"),
    # PostgreSQL: one index search per key (there were three: its firing alert, its resolved
    # ones, and the test "not firing" that drew its id; the pass's read was 29% of the backend's
    # time in a storm of new alerts). The search returns the key's firing alert and, for keys
    # about to fire, its resolved ones ('r'; dropped for keys found firing); a key with neither
    # draws the ids of its alert and (ungrouped) incident ('i'). A key with only resolved alerts
    # draws nothing here: `_ids_for` draws for it after the read.
    postgres="SELECT CASE WHEN a.open_marker = 1 THEN 'f' WHEN a.id IS NOT NULL THEN 'r'"
    " ELSE 'i' END,"
    f" CASE WHEN a.id IS NULL THEN nextval({id_sequence('alerts')})::INTEGER ELSE a.id END,"
    " k.key, a.incident_id, a.severity, a.event_count, a.acknowledged_at, a.starts_at,"
    " a.summary, NULL::BOOLEAN,"
    " CASE WHEN a.id IS NULL AND :draw_incidents THEN"
    f" nextval({id_sequence('incidents')})::INTEGER END"
    # Each key comes with two flags ('t' or 'f'), zipped by ROWS FROM: "about to fire" and "may
    # draw". Testing membership of a JSON array instead (`?`) scanned the array for every key.
    " FROM ROWS FROM (jsonb_array_elements_text(:keys), jsonb_array_elements_text(:new_flags),"
    " jsonb_array_elements_text(:draw_flags)) AS k(key, new, draw) LEFT JOIN LATERAL"
    f" (SELECT open_marker, {_FIRING_COLUMNS} FROM alerts"
    " WHERE service_id = :service_id AND dedup_key = k.key"
    " AND (open_marker = 1 OR k.new = 't') OFFSET 0) AS a ON true"
    " WHERE a.id IS NOT NULL OR k.draw = 't'"
    " UNION ALL "
    + _each_key(
        "g",
        "a.id, a.group_key, NULL, a.severity, NULL, NULL, a.created_at, NULL,"
        " a.severity_set_by_user, NULL",
        "group_keys",
        "SELECT id, group_key, severity, severity_set_by_user, created_at FROM incidents"
        f" WHERE {_OPEN_GROUP} AND group_key = k.key",
    ),
)
# SQLite: every resolved alert of keys whose latest alert is resolved and that fire again (late
# duplicates by their startsAt, and the incidents each key was part of).
_SELECT_RESOLVED = Sql(
    "SELECT dedup_key, starts_at, incident_id FROM alerts WHERE id IN (SELECT alert_id"
    " FROM alert_keys WHERE service_id = :service_id AND dedup_key {keys})"
    f" AND status = '{_RESOLVED}'"
    " UNION ALL SELECT dedup_key, starts_at, incident_id FROM alerts"
    f" WHERE id {{recent_ids}} AND status = '{_RESOLVED}'"
)
_SELECT_SEVERITIES = Sql("SELECT id, severity, severity_set_by_user FROM incidents WHERE id {ids}")
_RAISE_SEVERITIES = Sql(
    "UPDATE incidents SET severity = :severity, urgency = :urgency,"
    " alert_count = alert_count + :added, updated_at = :now WHERE id = :_id",
    postgres_rows="UPDATE incidents AS t SET severity = r.severity, urgency = r.urgency,"
    " alert_count = t.alert_count + r.added, updated_at = r.now"
    " FROM jsonb_to_recordset(CAST(%s AS JSONB))"
    " AS r(_id INTEGER, severity TEXT, urgency TEXT, added INTEGER, now TIMESTAMPTZ)"
    " WHERE t.id = r._id",
)
_ACKNOWLEDGE = Sql(
    f"UPDATE incidents SET status = '{IncidentStatus.ACKNOWLEDGED.value}',"
    " acknowledged_at = :now, updated_at = :now"
    f" WHERE id {{ids}} AND status = '{IncidentStatus.TRIGGERED.value}' RETURNING id"
)
_RESOLVE_WITHOUT_FIRING = Sql(
    f"UPDATE incidents SET status = '{IncidentStatus.RESOLVED.value}',"
    " resolved_at = :now, updated_at = :now"
    f" WHERE id {{ids}} AND status != '{IncidentStatus.RESOLVED.value}' AND NOT EXISTS"
    " (SELECT 1 FROM alerts WHERE alerts.incident_id = incidents.id"
    " AND alerts.open_marker = 1) RETURNING id"
)
_ALERTS_TABLE = Alert.__table__
# The order of `_write_alerts`'s tuples (checked against the table when the module loads). The
# last columns are those a new alert of a storm shares with the others of its pass
# (`plain_tail` in `_write_alerts`), which SQLite then spells out once instead of binding them
# for every row.
_ALERT_COLUMNS = (
    "id",
    "incident_id",
    "dedup_key",
    "summary",
    "severity",
    "source",
    "integration_type",
    "labels",
    "details",
    "links",
    "group_key",
    "starts_at",
    "expires_at",
    "raw_payload",
    "service_id",
    "status",
    "first_seen_at",
    "last_seen_at",
    "event_count",
    "acknowledged_at",
    "resolved_at",
)
_SPELLED_TAIL_FROM_ROWS = 32
# Its rows' JSON columns hold, on SQLite, the texts the HTTP processes made (`AlertEvent.texts`).
_INSERT_ALERTS = Insert(_ALERTS_TABLE, order=_ALERT_COLUMNS, json_text=True)
_INSERT_INCIDENTS = Insert(Incident.__table__)
_INSERT_EVENTS = Insert(IncidentEvent.__table__, with_id=False)


@dataclass(slots=True)
class _AlertState:
    dedup_key: str
    id: int | None = None
    incident_id: int | None = None
    severity: str = "SEV4"
    stored_summary: str = ""  # as committed before this pass, for the timeline
    values: dict[str, Any] = field(default_factory=dict)
    is_new: bool = False
    changed: bool = False
    resolved: bool = False
    acknowledged: bool = False
    severity_rose: bool = False
    group_key: str | None = None
    # Which request of a grouped commit created, touched and resolved it (for its answer).
    created_by: int = -1
    touched_by: set[int] = field(default_factory=set)
    resolved_by: int = -1


@dataclass(slots=True)
class IngestResult:
    dedup_keys: list[str]
    alerts_created: int = 0
    alerts_updated: int = 0
    alerts_resolved: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    incidents_resolved: list[int] = field(default_factory=list)
    paging_started: bool = False
    # The new incidents as written, for paging and incident command (not read back).
    opened: list[paging.OpenedIncident] = field(default_factory=list)

    def to_wire(self) -> tuple[Any, ...]:
        """The answer as plain values, for the HTTP process that asked (`from_wire`); `opened`
        stays behind: it serves paging inside the commit, not the HTTP answer."""
        return (
            self.dedup_keys,
            self.alerts_created,
            self.alerts_updated,
            self.alerts_resolved,
            self.incidents_opened,
            self.incidents_resolved,
            self.paging_started,
        )

    @classmethod
    def from_wire(cls, values: tuple[Any, ...]) -> IngestResult:
        return cls(*values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (IngestResult.from_wire, (self.to_wire(),))


def ingest(
    session: Session,
    *,
    service: Service,
    events: list[AlertEvent],
    now: datetime,
    command: CommandConfig,
) -> IngestResult:
    """Apply every event of one request for one service; the caller commits."""
    return ingest_requests(session, service=service, requests=[events], now=now, command=command)[0]


def ingest_requests(
    session: Session,
    *,
    service: Service,
    requests: list[list[AlertEvent]],
    now: datetime,
    command: CommandConfig,
    service_locked: bool = False,
) -> list[IngestResult]:
    """Apply several requests' events for one service, in order, as one set-based pass.

    The outcome is that of applying the requests one after another; the group-commit writer uses
    it so a burst of small requests costs a few statements, not a few per request. Returns one
    result per request, attributing each alert and incident to the request that caused it.
    """
    results = [IngestResult(dedup_keys=[e.dedup_key for e in events]) for events in requests]
    tagged = [(origin, event) for origin, events in enumerate(requests) for event in events]
    if not tagged:
        return results
    all_events = [event for _origin, event in tagged]
    driver = Driver(session)
    if not service_locked:  # else the caller took it with the service (`service_for_key`)
        _lock_service(driver, service.id)
    if not driver.postgres:  # under the write lock, which this transaction holds from BEGIN
        tier = recent_keys(driver.connection.engine)
        tier.refresh(driver)
        tier.merge_step(driver)
    known = _load_known(driver, service, all_events, now)
    firing = known.firing
    resolved = known.resolved
    stale = resolved.stale
    states: list[_AlertState] = list(firing.values())
    acknowledged_incidents: set[int] = set()
    mapping = service.severity_mapping or {}
    severities: dict[str | None, str] = {}

    for index, (origin, event) in enumerate(tagged):
        current = firing.get(event.dedup_key)
        if event.action is Action.TRIGGER:
            severity = severities.get(event.severity)
            if severity is None:  # a commit's alerts mostly share a handful of words
                severity = severities[event.severity] = map_severity(
                    event.severity, overrides=mapping, default=service.default_severity
                )
            if current is None:
                if stale and (event.dedup_key, event.starts_at) in stale:  # hashing is dear
                    continue
                # A new alert is set up whole, in one go: most alerts of a storm are new.
                group_key = known.group_keys[index]
                current = firing[event.dedup_key] = _AlertState(
                    dedup_key=event.dedup_key,
                    is_new=True,
                    changed=True,
                    severity=severity,
                    group_key=group_key,
                    created_by=origin,
                    touched_by={origin},
                    values={  # what `_write_alerts` stores beside the state's own fields
                        "starts_at": event.starts_at or now,
                        "integration_type": event.integration_type,
                        "summary": event.summary,
                        "source": event.source,
                        "labels": event.labels,
                        "details": event.details,
                        "links": event.links,
                        "last_seen_at": now,
                        "expires_at": (
                            event.ends_at if event.integration_type == "prometheus" else None
                        ),
                        "raw_payload": event.raw,
                        "event_count": 1,
                        "texts": event.texts,
                    },
                )
                states.append(current)
                continue
            current.changed = True
            current.touched_by.add(origin)
            current.severity_rose = not current.is_new and worst(current.severity, severity) != (
                current.severity
            )
            current.severity = severity  # the latest word wins; the incident keeps the worst
            current.values.update(
                summary=event.summary,
                severity=current.severity,
                source=event.source,
                labels=event.labels,
                details=event.details,
                links=event.links,
                last_seen_at=now,
                expires_at=event.ends_at if event.integration_type == "prometheus" else None,
                raw_payload=event.raw,
                event_count=current.values.get("event_count", 0) + 1,
                texts=event.texts,
            )
        elif current is None:
            continue  # acknowledge / resolve of an unknown key: accepted and ignored
        elif event.action is Action.ACKNOWLEDGE:
            current.acknowledged = True
            current.changed = True
            current.touched_by.add(origin)
            current.values.setdefault("acknowledged_at", now)
            if current.incident_id is not None:
                acknowledged_incidents.add(current.incident_id)
        else:
            ended = event.ends_at if event.ends_at and event.ends_at <= now else now
            current.resolved = True
            current.changed = True
            current.resolved_by = origin
            current.touched_by.add(origin)
            current.values.update(status=AlertStatus.RESOLVED, resolved_at=ended, last_seen_at=now)
            del firing[event.dedup_key]
            if event.integration_type in _EXPLICIT_RESOLVE_SOURCES:
                # A later request of this commit re-sending the firing message is a late duplicate.
                stale.add((event.dedup_key, current.values.get("starts_at")))

    new_states = [s for s in states if s.is_new]
    summary = IngestResult(dedup_keys=[])
    incidents = _attach_to_incidents(driver, service, new_states, now, known, summary)
    for state in new_states:
        if state.acknowledged and state.incident_id is not None:
            acknowledged_incidents.add(state.incident_id)
    _write_alerts(driver, service.id, states, now, summary, known.alert_ids)
    _record_alert_events(driver, states, incidents, resolved, now)
    raised = _raise_incident_severities(driver, service, states, incidents, now)
    acked = _acknowledge_incidents(driver, acknowledged_incidents, now)
    # The pass's writes, in as few statements as PostgreSQL allows (`Driver.flush`): what
    # follows reaches the database through the session too.
    driver.flush()
    if service.auto_resolve:
        _auto_resolve(session, states, now, summary)
    _page(session, result=summary, raised=raised, acked=acked, now=now, command=command)
    _attribute(results, summary, states)
    return results


def _attribute(
    results: list[IngestResult], summary: IngestResult, states: list[_AlertState]
) -> None:
    """Split the pass's outcome between its requests, as if each had been committed alone."""
    opened_by: dict[int, int] = {}
    for state in states:
        if state.is_new and state.incident_id is not None:
            opened_by.setdefault(state.incident_id, state.created_by)
        for origin in state.touched_by:
            result = results[origin]
            if state.is_new and origin == state.created_by:
                result.alerts_created += 1
            else:
                result.alerts_updated += 1
        if state.resolved:
            results[state.resolved_by].alerts_resolved += 1
    for incident_id in summary.incidents_opened:
        results[opened_by.get(incident_id, 0)].incidents_opened.append(incident_id)
    for result in results:
        result.incidents_resolved = list(summary.incidents_resolved)
        result.paging_started = summary.paging_started


def _page(
    session: Session,
    *,
    result: IngestResult,
    raised: dict[int, str],
    acked: list[int],
    now: datetime,
    command: CommandConfig,
) -> None:
    """New incidents start paging; raised severities re-evaluate it; acks and resolves stop it."""
    links = command.links
    resolved = set(result.incidents_resolved)
    opened = [i for i in result.incidents_opened if i not in resolved]
    incident_command.on_opened(
        session, incident_ids=result.incidents_opened, now=now, config=command, known=result.opened
    )
    result.paging_started = paging.start_paging(
        session, incident_ids=opened, now=now, links=links, opened=result.opened
    )
    for incident_id, previous in raised.items():
        incident = session.get(Incident, incident_id)
        if incident is not None and incident_id not in result.incidents_opened:
            paging.severity_changed(
                session, incident=incident, previous=previous, now=now, links=links
            )
    paging.stop_paging(session, incident_ids=acked, now=now, resolved=False)


def _insert_with_ids(
    driver: Driver, insert: Insert, rows: list[dict[str, Any]], drawn: list[int]
) -> list[int]:
    """Insert rows under ids taken first: those `_load_known` drew, then, when the pass opens
    more than it foresaw, from `Driver.next_ids`; returns them in the rows' order."""
    ids = _ids_for(driver, insert.table, len(rows), drawn)
    for row, row_id in zip(rows, ids, strict=True):
        row["id"] = row_id
    driver.insert(insert, rows, later=True)
    return ids


def _ids_for(driver: Driver, table: str, count: int, drawn: list[int]) -> list[int]:
    """Ids for `count` new rows: those `_load_known` drew first, then more from the table."""
    ids = drawn[:count]
    if len(ids) < count:
        ids += driver.next_ids(table, count - len(ids))
    return ids


def _lock_service(driver: Driver, service_id: int) -> None:
    """Serialise ingest per service so grouping decisions never race (SQLite: BEGIN IMMEDIATE)."""
    if driver.postgres:
        driver.run(_LOCK_SERVICE, service_id=service_id)


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


@dataclass(slots=True)
class _Resolved:
    """What the resolved alerts of this pass's new keys say, read once at its start."""

    # (key, startsAt) of resolved Alertmanager and Grafana alerts: a trigger carrying one of these
    # is a late duplicate of the firing message (a retry that lost the race with its resolve).
    stale: set[tuple[str, datetime | None]] = field(default_factory=set)
    # The incidents each key has been part of, so a new alert joining one is "fired again".
    incidents_of: dict[str, set[int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Known:
    """What the database holds that a pass decides by (`_SELECT_KNOWN`)."""

    firing: dict[str, _AlertState]
    resolved: _Resolved
    # Each event's group (None for acknowledgements and resolves, and when ungrouped).
    group_keys: list[str | None]
    # (created_at, id, group key, severity, severity set by a person), oldest first.
    open_groups: list[tuple[Any, int, str, str, bool]] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)
    incident_ids: list[int] = field(default_factory=list)


def _load_known(
    driver: Driver, service: Service, events: list[AlertEvent], now: datetime
) -> _Known:
    """One read for everything the pass decides by: firing alerts of its keys, resolved ones of
    the keys about to fire, open incidents of its groups, and (PostgreSQL) ids for what it opens.

    Repeats of firing alerts are asked about as resolved keys and groups too, since which keys
    are firing is only known from the answer; the statement skips keys that are firing, and the
    groups of repeats are a handful of index lookups. Ungrouped services open a new incident for
    every new alert, so only late duplicates matter among resolved alerts there.
    """
    grouped = service.grouping_mode != GroupingMode.NONE
    group_key_of = grouper(mode=service.grouping_mode, group_by=service.group_by)
    group_keys: list[str | None] = []
    explicit: set[str] = set()
    new_keys: set[str] = set()
    triggered: set[str] = set()
    for e in events:
        if e.action is not Action.TRIGGER:
            group_keys.append(None)
            continue
        group_keys.append(group_key_of(e.labels, e.group_key, e.dedup_key))
        triggered.add(e.dedup_key)
        if e.starts_at is not None and e.integration_type in _EXPLICIT_RESOLVE_SOURCES:
            explicit.add(e.dedup_key)
            new_keys.add(e.dedup_key)
        elif grouped:
            new_keys.add(e.dedup_key)
    known = _Known(firing={}, resolved=_Resolved(), group_keys=group_keys)
    keys = {e.dedup_key for e in events}
    window_start = now - timedelta(seconds=service.group_window_seconds)
    open_group_keys = sorted({key for key in group_keys if key is not None})
    recent: dict[str, list[int]] = {}
    if driver.postgres:
        rows = driver.rows(
            _SELECT_KNOWN,
            service_id=service.id,
            **postgres_key_flags(sorted(keys), new_keys=new_keys, draw_keys=triggered),
            group_keys=open_group_keys,
            window_start=window_start,
            draw_incidents=not grouped,
        )
    else:
        recent = recent_keys(driver.connection.engine).ids_of(service.id, keys)
        rows = driver.rows(
            _SELECT_KNOWN,
            service_id=service.id,
            merged_keys=sorted(keys.difference(recent)),
            recent_latest=sorted(ids[-1] for ids in recent.values()),
            group_keys=open_group_keys,
            window_start=window_start,
        )
    resolved = known.resolved
    firing_again: list[str] = []  # SQLite: keys whose latest alert is resolved, to fire anew
    resolved_rows: list[tuple[str, Any, int | None]] = []  # PostgreSQL's 'r' rows
    for (
        tag,
        row_id,
        key,
        incident_id,
        severity,
        count,
        acked,
        at,
        summary,
        by_user,
        more,
    ) in rows:
        if tag == "f":
            state = _AlertState(
                dedup_key=key,
                id=row_id,
                incident_id=incident_id,
                severity=severity,
                stored_summary=summary,
                values={"event_count": count, "starts_at": parse_sqlite_datetime(at)},
            )
            if acked is not None:
                state.values["acknowledged_at"] = parse_sqlite_datetime(acked)
            known.firing[key] = state
        elif tag == "r" and not driver.postgres:
            if key in new_keys:
                firing_again.append(key)
        elif tag == "r":  # noted below, unless the key turns out to be firing
            resolved_rows.append((key, at, incident_id))
        elif tag == "g":
            known.open_groups.append((at, row_id, key, severity, bool(by_user)))
        else:
            known.alert_ids.append(row_id)
            if more is not None:
                known.incident_ids.append(more)
    for key, at, incident_id in resolved_rows:
        if key not in known.firing:
            _note_resolved(resolved, explicit, key, at, incident_id)
    if firing_again:
        rows = driver.rows(
            _SELECT_RESOLVED,
            service_id=service.id,
            keys=firing_again,  # a key the recent tier holds may have older alerts too
            recent_ids=[i for again in firing_again for i in recent.get(again, ())],
        )
        for key, at, incident_id in rows:
            _note_resolved(resolved, explicit, key, at, incident_id)
    known.open_groups.sort()
    known.alert_ids.sort()
    known.incident_ids.sort()
    return known


def postgres_key_flags(
    keys: list[str], *, new_keys: set[str], draw_keys: set[str]
) -> dict[str, list[str]]:
    """PostgreSQL's `_SELECT_KNOWN` parameters for `keys`: each key's flags, in its order."""
    return {
        "keys": keys,
        "new_flags": ["t" if key in new_keys else "f" for key in keys],
        "draw_flags": ["t" if key in draw_keys else "f" for key in keys],
    }


def _note_resolved(
    resolved: _Resolved, explicit: set[str], key: str, starts_at: Any, incident_id: int | None
) -> None:
    if key in explicit:
        resolved.stale.add((key, parse_sqlite_datetime(starts_at)))
    if incident_id is not None:
        resolved.incidents_of.setdefault(key, set()).add(incident_id)


@dataclass(slots=True)
class _IncidentState:
    id: int
    severity: str
    severity_set_by_user: bool
    new: bool
    added: int = 0


def _attach_to_incidents(
    driver: Driver,
    service: Service,
    new_states: list[_AlertState],
    now: datetime,
    known: _Known,
    result: IngestResult,
) -> dict[int, _IncidentState]:
    """Find or open the incident of every new alert's group; returns the incidents touched."""
    if not new_states:
        return {}
    touched: dict[int, _IncidentState] = {}
    by_group: dict[str, int] = {}
    wanted = {s.group_key for s in new_states if s.group_key is not None}
    for _created_at, incident_id, group_key, severity, set_by_user in known.open_groups:
        if group_key in wanted:
            by_group[group_key] = incident_id  # the newest open incident of a group wins
            touched[incident_id] = _IncidentState(incident_id, severity, set_by_user, new=False)

    # Open one incident per group (or per alert when ungrouped) that has none.
    openers: list[_AlertState] = []
    opener_of_group: dict[str, _AlertState] = {}
    for state in new_states:
        if state.group_key is None:
            openers.append(state)
        elif state.group_key not in by_group and state.group_key not in opener_of_group:
            opener_of_group[state.group_key] = state
            openers.append(state)
    if openers:
        group_severity: dict[str, str] = {}
        group_size: dict[str, int] = {}
        for state in new_states:
            if state.group_key is not None and state.group_key not in by_group:
                previous = group_severity.get(state.group_key, state.severity)
                group_severity[state.group_key] = worst(previous, state.severity)
                group_size[state.group_key] = group_size.get(state.group_key, 0) + 1
        rows = [
            {
                "title": opener.values["summary"],
                "description": "",
                "service_id": service.id,
                "severity": group_severity.get(opener.group_key or "", opener.severity),
                "severity_set_by_user": False,
                "urgency": paging.urgency_of(
                    service, group_severity.get(opener.group_key or "", opener.severity)
                ),
                "status": IncidentStatus.TRIGGERED,
                "group_key": opener.group_key,
                # Born with its alerts counted: a new incident needs no update afterwards.
                "alert_count": group_size.get(opener.group_key or "", 1),
                "created_at": now,
                "updated_at": now,
                # Impact began when the opening alert started; Vigil detected it now.
                "started_at": opener.values["starts_at"],
                "detected_at": now,
                "affected_service_ids": [service.id],
            }
            for opener in openers
        ]
        ids = _insert_with_ids(driver, _INSERT_INCIDENTS, rows, known.incident_ids)
        for opener, incident_id, row in zip(openers, ids, rows, strict=True):
            opener.incident_id = incident_id
            touched[incident_id] = _IncidentState(
                incident_id, row["severity"], severity_set_by_user=False, new=True
            )
            result.incidents_opened.append(incident_id)
            result.opened.append(
                paging.OpenedIncident(
                    id=incident_id,
                    title=row["title"],
                    severity=row["severity"],
                    urgency=row["urgency"],
                    service_id=service.id,
                    service_name=service.name,
                    support_hours=service.support_hours,
                    escalation_policy_id=service.escalation_policy_id,
                )
            )
            if opener.group_key is not None:
                by_group[opener.group_key] = incident_id
    for state in new_states:
        if state.incident_id is None and state.group_key is not None:
            state.incident_id = by_group[state.group_key]
        if state.incident_id is not None and not touched[state.incident_id].new:
            touched[state.incident_id].added += 1
    return touched


_UPDATABLE = (
    "summary",
    "severity",
    "source",
    "labels",
    "details",
    "links",
    "last_seen_at",
    "expires_at",
    "raw_payload",
    "event_count",
    "status",
    "resolved_at",
    "acknowledged_at",
)


def _write_alerts(
    driver: Driver,
    service_id: int,
    states: list[_AlertState],
    now: datetime,
    result: IngestResult,
    drawn_ids: list[int],
) -> None:
    new_states = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for state in states:
        if state.resolved:
            result.alerts_resolved += 1
        if state.is_new:
            new_states.append(state)
        elif state.changed:
            result.alerts_updated += 1
            columns = tuple(name for name in _UPDATABLE if name in state.values)
            updates.setdefault(columns, []).append(
                {"id": state.id, **{name: state.values[name] for name in columns}}
            )
    # Updates first: an alert resolved and fired again in one pass frees its key for the new row.
    for columns, rows in updates.items():
        driver.update(_ALERTS_TABLE, columns, rows)
    if new_states:
        ids = _ids_for(driver, _ALERTS_TABLE.name, len(new_states), drawn_ids)
        rows = []
        plain = []  # new alerts firing, seen once, neither acknowledged nor resolved: most
        firing = AlertStatus.FIRING.value  # a plain str binds without an adapter call
        plain_tail = (service_id, firing, now, now, 1, None, None)
        # On SQLite the JSON columns take the texts the HTTP process made, when it made them;
        # PostgreSQL's JSON document of the rows needs the values themselves.
        texts_stored = not driver.postgres
        # SQLite compiles a statement for each pass's tail (it spells `now`): worth it from a few
        # dozen rows on, when binding the tail for every row would cost more.
        spell_tail = texts_stored and len(new_states) >= _SPELLED_TAIL_FROM_ROWS
        for state, alert_id in zip(new_states, ids, strict=True):
            state.id = alert_id
            values = state.values
            get = values.get
            texts = get("texts") if texts_stored else None
            if texts is None:  # in `AlertEvent.texts`' order
                texts = (
                    values["labels"],
                    values["details"],
                    values["links"],
                    values["raw_payload"],
                )
            head = (  # in _ALERT_COLUMNS' order
                alert_id,
                state.incident_id,
                state.dedup_key,
                values["summary"],
                state.severity,
                values["source"],
                values["integration_type"],
                texts[0],  # labels
                texts[1],  # details
                texts[2],  # links
                state.group_key,
                values["starts_at"],
                values["expires_at"],
                texts[3],  # raw payload
            )
            tail = (
                service_id,
                get("status", firing),
                now,
                values["last_seen_at"],
                values["event_count"],
                get("acknowledged_at"),
                get("resolved_at"),
            )
            if spell_tail and tail == plain_tail:
                plain.append(head)
            else:
                rows.append(head + tail)
        driver.insert_values(_INSERT_ALERTS, plain, later=True, tail=plain_tail)
        driver.insert_values(_INSERT_ALERTS, rows, later=True)
        result.alerts_created += len(new_states)
        if not driver.postgres:
            recent_keys(driver.connection.engine).inserted(
                driver, service_id, [(state.dedup_key, state.id) for state in new_states]
            )


def _record_alert_events(
    driver: Driver,
    states: list[_AlertState],
    incidents: dict[int, _IncidentState],
    resolved: _Resolved,
    now: datetime,
) -> None:
    """Timeline entries for the alerts of this pass: who opened each new incident, alerts that
    fired again, and one entry per incident for the alerts added and one for those resolved.

    A storm of a thousand alerts into one incident is one entry per commit ("1,000 alerts
    added: …"), not a thousand lines a responder has to scroll past (and a thousand rows to
    write while the storm is on).
    """
    refired = _refired_keys(states, incidents, resolved)
    rows: list[dict[str, Any]] = []
    gathered: dict[tuple[int, str], list[_AlertState]] = {}
    opened_by: set[int] = set()
    for state in states:
        if state.incident_id is None:
            continue
        summary = _summary(state)
        if state.is_new:
            incident = incidents[state.incident_id]
            if incident.new and state.incident_id not in opened_by:
                opened_by.add(state.incident_id)
                message = f"Opened by alert: {summary}"
                rows.append(_alert_event(state, EventKind.CREATED, now, message))
            elif (state.incident_id, state.dedup_key) in refired:
                message = f"Alert fired again: {summary}"
                rows.append(_alert_event(state, EventKind.ALERT_REFIRED, now, message))
            else:
                gathered.setdefault((state.incident_id, EventKind.ALERT_ADDED), []).append(state)
        if state.resolved:
            gathered.setdefault((state.incident_id, EventKind.ALERT_RESOLVED), []).append(state)
    for (_incident_id, kind), alerts in gathered.items():
        rows.append(_alerts_event(alerts, kind, now))
    driver.insert(_INSERT_EVENTS, rows, later=True)


_GATHERED_VERB = {EventKind.ALERT_ADDED: "added", EventKind.ALERT_RESOLVED: "resolved"}
_NAMED_IN_MESSAGE = 3  # summaries a gathered entry's message names before "and N more"
_LISTED_IN_DATA = 100  # alerts a gathered entry's data lists (it always has the count)


def _summary(state: _AlertState) -> str:
    """The alert's summary after this pass: the latest trigger's, else the stored one."""
    return str(state.values.get("summary", state.stored_summary))


def _alert_title(state: _AlertState) -> str:
    return _summary(state) or state.dedup_key


def _alert_event(state: _AlertState, kind: str, at: datetime, message: str) -> dict[str, Any]:
    assert state.incident_id is not None
    data = {"alert_id": state.id, "dedup_key": state.dedup_key}
    return _event(state.incident_id, kind, at, message, data)


def _alerts_event(alerts: list[_AlertState], kind: str, at: datetime) -> dict[str, Any]:
    """One entry for alerts of one incident added (or resolved) together; a single alert's
    entry reads as it always did."""
    verb = _GATHERED_VERB[kind]
    if len(alerts) == 1:
        return _alert_event(alerts[0], kind, at, f"Alert {verb}: {_alert_title(alerts[0])}")
    named = ", ".join(_alert_title(a) for a in alerts[:_NAMED_IN_MESSAGE])
    more = len(alerts) - _NAMED_IN_MESSAGE
    message = f"{len(alerts):,} alerts {verb}: {named}" + (
        f" and {more:,} more" if more > 0 else ""
    )
    data = {
        "count": len(alerts),
        "alerts": [{"alert_id": a.id, "dedup_key": a.dedup_key} for a in alerts[:_LISTED_IN_DATA]],
    }
    assert alerts[0].incident_id is not None
    return _event(alerts[0].incident_id, kind, at, message, data)


def _refired_keys(
    states: list[_AlertState],
    incidents: dict[int, _IncidentState],
    resolved: _Resolved,
) -> set[tuple[int, str]]:
    """(incident, key) pairs where a new alert repeats one that already resolved in the incident:
    resolved before this pass (read at its start) or within it."""
    existing = {i.id for i in incidents.values() if not i.new}
    before = {
        (incident_id, key)
        for key, incident_ids in resolved.incidents_of.items()
        for incident_id in incident_ids
        if incident_id in existing
    }
    during = {(s.incident_id, s.dedup_key) for s in states if s.resolved and s.incident_id}
    return before | during


def _event(
    incident_id: int, kind: str, at: datetime, message: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "kind": kind,
        "at": at,
        "actor_user_id": None,
        "message": message,
        "data": data,
    }


def _raise_incident_severities(
    driver: Driver,
    service: Service,
    states: list[_AlertState],
    incidents: dict[int, _IncidentState],
    now: datetime,
) -> dict[int, str]:
    """Incidents follow the worst severity of their alerts until a person sets it; returns the
    incidents whose severity rose, with their previous severity."""
    worst_by_incident: dict[int, str] = {}
    for state in states:
        if state.incident_id is None or not (state.is_new or state.severity_rose):
            continue
        previous = worst_by_incident.get(state.incident_id, state.severity)
        worst_by_incident[state.incident_id] = worst(previous, state.severity)
    # Existing incidents receiving only updates still need their current severity.
    missing = sorted(i for i in worst_by_incident if i not in incidents)
    if missing:
        for chunk in _chunks(missing):
            for incident_id, severity, set_by_user in driver.rows(_SELECT_SEVERITIES, ids=chunk):
                incidents[incident_id] = _IncidentState(
                    incident_id, severity, bool(set_by_user), new=False
                )
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    raised: dict[int, str] = {}
    for incident in incidents.values():
        severity = incident.severity
        candidate = worst_by_incident.get(incident.id)
        if (
            candidate
            and not incident.severity_set_by_user
            and worst(severity, candidate) != severity
        ):
            severity = worst(severity, candidate)
            raised[incident.id] = incident.severity
            events.append(
                _event(
                    incident.id,
                    EventKind.SEVERITY_CHANGED,
                    now,
                    f"Severity raised from {incident.severity} to {severity} by a new alert",
                    {"from": incident.severity, "to": severity},
                )
            )
        if severity == incident.severity and incident.added == 0:
            continue
        updates.append(
            {
                "_id": incident.id,
                "severity": severity,
                "urgency": paging.urgency_of(service, severity),
                "added": incident.added,
                "now": now,
            }
        )
    # Only incidents that existed before the pass: no other write of it touches them.
    driver.run_many(_RAISE_SEVERITIES, updates, later=True)
    driver.insert(_INSERT_EVENTS, events, later=True)
    return raised


def _acknowledge_incidents(driver: Driver, incident_ids: set[int], now: datetime) -> list[int]:
    """An acknowledge event from the sender acknowledges the alert's whole incident."""
    if not incident_ids:
        return []
    acked = sorted(row[0] for row in driver.rows(_ACKNOWLEDGE, ids=sorted(incident_ids), now=now))
    rows = [
        _event(incident_id, EventKind.ACKNOWLEDGED, now, "Acknowledged by the alert's sender", {})
        for incident_id in acked
    ]
    driver.insert(_INSERT_EVENTS, rows, later=True)
    return acked


def _auto_resolve(
    session: Session, states: list[_AlertState], now: datetime, result: IngestResult
) -> None:
    """Resolve incidents whose every alert is now resolved."""
    candidates = sorted({s.incident_id for s in states if s.resolved and s.incident_id})
    if not candidates:
        return
    resolved = resolve_incidents_without_firing_alerts(session, incident_ids=candidates, now=now)
    result.incidents_resolved.extend(resolved)


def resolve_incidents_without_firing_alerts(
    session: Session, *, incident_ids: list[int], now: datetime
) -> list[int]:
    """Resolve each given open incident that has no firing alert left; returns those resolved."""
    driver = Driver(session)
    resolved: list[int] = []
    for chunk in _chunks(incident_ids):
        resolved.extend(
            sorted(row[0] for row in driver.rows(_RESOLVE_WITHOUT_FIRING, ids=chunk, now=now))
        )
    if resolved:
        driver.insert(
            _INSERT_EVENTS,
            [
                _event(i, EventKind.RESOLVED, now, "Resolved: every alert has resolved", {})
                for i in resolved
            ],
        )
        paging.stop_paging(session, incident_ids=resolved, now=now, resolved=True)
    return resolved

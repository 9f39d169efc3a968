"""SQLite finds dedup keys in two tiers (`vigil.alerts.dedup`): recent alerts' keys in each
ingesting process's memory, older ones merged into `alert_keys`. Whatever tier a key is in, and
whichever process wrote it, a repeat updates its alert and never opens a second one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import T0
from vigil.alerts import dedup
from vigil.alerts.events import Action, AlertEvent
from vigil.alerts.models import Alert, AlertKey, AlertStatus
from vigil.incidents.comms import CommandConfig
from vigil.incidents.service import delete_service, resolve
from vigil.integrations.ingest import ingest
from vigil.notify.service import LinkConfig
from vigil.services import service as services
from vigil.services.models import Service
from vigil.services.schemas import ServiceCreate
from vigil.storage import migrate
from vigil.storage.db import Database

CONFIG = CommandConfig(links=LinkConfig(base_url="http://vigil.test", secret="test"))


def _fire(
    key: str,
    *,
    source: str = "prometheus",
    starts_minutes: int = 0,
    action: Action = Action.TRIGGER,
) -> AlertEvent:
    return AlertEvent(
        action=action,
        dedup_key=key,
        integration_type=source,
        summary=f"{key} is down",
        severity="critical" if action is Action.TRIGGER else None,
        labels={"alertname": "Down", "instance": key},
        starts_at=T0 + timedelta(minutes=starts_minutes),
    )


def _resolve(key: str, *, source: str) -> AlertEvent:
    return _fire(key, source=source, action=Action.RESOLVE)


def _alerts(session: Session, service_id: int, key: str) -> list[Alert]:
    return list(
        session.scalars(
            sa.select(Alert)
            .where(Alert.service_id == service_id, Alert.dedup_key == key)
            .order_by(Alert.id)
        )
    )


@pytest.fixture
def merge_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedup, "MERGE_EVERY", 1)


def test_a_repeat_of_a_key_merged_since_updates_its_alert(
    session: Session, service: Service, backend: str, merge_every_pass: None
) -> None:
    ingest(session, service=service, events=[_fire("db-1")], now=T0, command=CONFIG)
    ingest(session, service=service, events=[_fire("db-2")], now=T0, command=CONFIG)  # merges
    ingest(session, service=service, events=[_fire("db-1")], now=T0, command=CONFIG)

    (alert,) = _alerts(session, service.id, "db-1")
    assert alert.event_count == 2
    if backend == "sqlite":
        merged = sa.select(AlertKey.dedup_key).where(AlertKey.service_id == service.id)
        assert "db-1" in set(session.scalars(merged))


def test_a_merged_key_that_fires_again_opens_a_new_alert_and_its_late_duplicate_is_dropped(
    session: Session, service: Service, merge_every_pass: None
) -> None:
    """Alertmanager resends: the firing message that lost the race with its resolve carries the
    resolved alert's startsAt, wherever that alert's key now is."""
    am = "alertmanager"
    ingest(session, service=service, events=[_fire("db-1", source=am)], now=T0, command=CONFIG)
    ingest(session, service=service, events=[_resolve("db-1", source=am)], now=T0, command=CONFIG)
    ingest(session, service=service, events=[_fire("db-2", source=am)], now=T0, command=CONFIG)

    late = _fire("db-1", source=am)
    ingest(session, service=service, events=[late], now=T0, command=CONFIG)
    assert [a.status for a in _alerts(session, service.id, "db-1")] == [AlertStatus.RESOLVED]

    again = _fire("db-1", source=am, starts_minutes=10)
    ingest(session, service=service, events=[again], now=T0, command=CONFIG)
    statuses = [a.status for a in _alerts(session, service.id, "db-1")]
    assert statuses == [AlertStatus.RESOLVED, AlertStatus.FIRING]


def test_an_incident_resolved_by_hand_lets_its_merged_keys_fire_anew(
    session: Session, service: Service, merge_every_pass: None
) -> None:
    result = ingest(session, service=service, events=[_fire("db-1")], now=T0, command=CONFIG)
    ingest(session, service=service, events=[_fire("db-2")], now=T0, command=CONFIG)
    (incident_id,) = {a.incident_id for a in _alerts(session, service.id, "db-1")}
    assert result.incidents_opened == [incident_id]
    resolve(session, incident_id=incident_id, user_id=None, now=T0)

    ingest(session, service=service, events=[_fire("db-1")], now=T0, command=CONFIG)
    alerts = _alerts(session, service.id, "db-1")
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED, AlertStatus.FIRING]
    assert alerts[1].incident_id != incident_id


# --- SQLite: more than one process on one database file ------------------------------------


@pytest.fixture
def shared_file(tmp_path: Path) -> Iterator[tuple[Database, Database, int]]:
    """Two `Database`s on one migrated SQLite file, as two processes would have (each has its
    own engine, so its own recent tier), and a service committed in it."""
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    migrate.upgrade(url)
    first, second = Database.from_url(url), Database.from_url(url)
    with first.unit_of_work() as session:
        service_id = services.create_service(session, data=ServiceCreate(name="shared"), now=T0).id
    yield first, second, service_id
    first.dispose()
    second.dispose()


def _ingest_in(db: Database, service_id: int, events: list[AlertEvent]) -> None:
    with db.unit_of_work() as session:
        service = session.get(Service, service_id)
        assert service is not None
        ingest(session, service=service, events=events, now=T0, command=CONFIG)


def _firing_per_key(db: Database, service_id: int) -> dict[str, int]:
    with db.read_session() as session:
        rows = session.execute(
            sa.select(Alert.dedup_key, sa.func.count())
            .where(Alert.service_id == service_id, Alert.status == AlertStatus.FIRING)
            .group_by(Alert.dedup_key)
        )
        return dict(rows.tuples().all())


def test_alerts_another_process_opened_are_repeats_here(
    shared_file: tuple[Database, Database, int],
) -> None:
    first, second, service_id = shared_file
    _ingest_in(first, service_id, [_fire("db-1")])
    _ingest_in(second, service_id, [_fire("db-1"), _fire("db-2")])
    _ingest_in(first, service_id, [_fire("db-2"), _fire("db-1")])
    assert _firing_per_key(first, service_id) == {"db-1": 1, "db-2": 1}


def test_a_rolled_back_pass_leaves_no_key_behind(
    shared_file: tuple[Database, Database, int],
) -> None:
    """The first process's pass is undone after it took the next id; the second process then
    gives that id to another key. The first must not take the id for its own key."""
    first, second, service_id = shared_file
    with pytest.raises(RuntimeError), first.unit_of_work() as session:
        service = session.get(Service, service_id)
        assert service is not None
        ingest(session, service=service, events=[_fire("undone")], now=T0, command=CONFIG)
        raise RuntimeError("the commit fails")
    _ingest_in(second, service_id, [_fire("db-1")])
    _ingest_in(first, service_id, [_fire("db-1")])
    _ingest_in(first, service_id, [_fire("undone")])
    _ingest_in(second, service_id, [_fire("undone")])
    assert _firing_per_key(first, service_id) == {"db-1": 1, "undone": 1}


def test_keys_stay_true_after_the_newest_alerts_are_deleted(
    shared_file: tuple[Database, Database, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite gives the ids of deleted alerts at the top out again: the watermark comes down
    with them, or new alerts would sit below it in neither tier."""
    monkeypatch.setattr(dedup, "MERGE_EVERY", 1)
    first, second, service_id = shared_file
    with first.unit_of_work() as session:
        doomed = services.create_service(session, data=ServiceCreate(name="doomed"), now=T0).id
    _ingest_in(first, service_id, [_fire("db-1")])
    _ingest_in(first, doomed, [_fire("x"), _fire("y")])
    _ingest_in(first, service_id, [_fire("db-1")])  # merges everything
    with second.unit_of_work() as session:
        incidents = session.scalars(sa.select(Alert.incident_id).where(Alert.service_id == doomed))
        for incident_id in set(incidents):
            resolve(session, incident_id=incident_id, user_id=None, now=T0)
        delete_service(session, service_id=doomed)

    _ingest_in(second, service_id, [_fire("db-2")])  # takes a deleted alert's id
    _ingest_in(first, service_id, [_fire("db-2"), _fire("db-1")])
    _ingest_in(second, service_id, [_fire("db-2")])
    assert _firing_per_key(first, service_id) == {"db-1": 1, "db-2": 1}


def test_upgrading_merges_the_keys_of_every_existing_alert(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    migrate.upgrade(url, "0011")
    engine = sa.create_engine(url)
    columns = (
        "id, service_id, dedup_key, status, summary, severity, source, integration_type, labels,"
        " details, links, starts_at, first_seen_at, last_seen_at, event_count"
    )
    with engine.begin() as conn:
        for alert_id, key in ((1, "b"), (2, "a"), (3, "b")):
            conn.exec_driver_sql(
                f"INSERT INTO alerts ({columns}) VALUES (?, 7, ?, 'resolved', 's', 'SEV1', '',"
                " 'generic', '{}', '{}', '[]', '2026-01-01', '2026-01-01', '2026-01-01', 1)",
                (alert_id, key),
            )
    migrate.upgrade(url)
    with engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT service_id, dedup_key, alert_id FROM alert_keys")
        assert list(keys) == [(7, "a", 2), (7, "b", 1), (7, "b", 3)]
        state = conn.exec_driver_sql("SELECT merged_upto, generation FROM alert_key_merges")
        assert list(state) == [(3, 0)]
    engine.dispose()


def _merged(db: Database) -> tuple[int, int]:
    """(keys in `alert_keys`, the watermark)."""
    with db.read_session() as session:
        keys = session.scalar(sa.select(sa.func.count()).select_from(AlertKey))
        watermark = session.scalar(sa.text("SELECT merged_upto FROM alert_key_merges"))
        return keys or 0, watermark or 0


def test_a_merge_in_slices_keeps_every_key_found_while_it_runs(
    shared_file: tuple[Database, Database, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedup, "MERGE_EVERY", 20)
    monkeypatch.setattr(dedup, "MERGE_SLICES", 4)
    first, _second, service_id = shared_file
    keys = [f"host-{n:02d}" for n in range(20)]
    _ingest_in(first, service_id, [_fire(key) for key in keys])
    merged = []
    for n in range(5):  # the batch starts at the first pass and takes four
        _ingest_in(first, service_id, [_fire(key) for key in keys] + [_fire(f"new-{n}")])
        merged.append(_merged(first))
    assert merged[0][0] == 5 and merged[0][1] == 0  # one slice in, the watermark unmoved
    assert merged[3] == (20, 20)  # all four slices: the watermark passes the batch
    assert _firing_per_key(first, service_id) == {
        **dict.fromkeys(keys, 1),
        **{f"new-{n}": 1 for n in range(5)},
    }


def test_a_merge_left_half_done_by_one_process_is_finished_by_another(
    shared_file: tuple[Database, Database, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that stops mid-merge leaves slices in `alert_keys` below no watermark: the next
    merge inserts them again (OR IGNORE), and no key is found twice or lost."""
    monkeypatch.setattr(dedup, "MERGE_EVERY", 20)
    monkeypatch.setattr(dedup, "MERGE_SLICES", 4)
    first, second, service_id = shared_file
    keys = [f"host-{n:02d}" for n in range(20)]
    _ingest_in(first, service_id, [_fire(key) for key in keys])
    for _ in range(2):
        _ingest_in(first, service_id, [_fire(keys[0])])
    assert _merged(first) == (10, 0)
    for n in range(6):
        _ingest_in(second, service_id, [_fire(key) for key in keys] + [_fire(f"new-{n}")])
    assert _merged(second) == (20, 20)  # its own batch of the 20, half of it inserted twice
    _ingest_in(first, service_id, [_fire(key) for key in keys])
    assert _firing_per_key(first, service_id) == {
        **dict.fromkeys(keys, 1),
        **{f"new-{n}": 1 for n in range(6)},
    }


def _merged_keys(db: Database) -> set[str]:
    with db.read_session() as session:
        return set(session.scalars(sa.select(AlertKey.dedup_key)))


def test_after_a_first_merge_each_pass_merges_one_range_of_keys_sorted_as_they_arrived(
    shared_file: tuple[Database, Database, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sorting a whole batch when its merge began took that pass 30–45 ms; alerts are now put
    in their slice's key range as they arrive, by the ranges the last merge found."""
    monkeypatch.setattr(dedup, "MERGE_EVERY", 40)
    monkeypatch.setattr(dedup, "MERGE_SLICES", 4)
    first, _second, service_id = shared_file
    with first.unit_of_work() as session:  # the engine its writes go through
        tier = dedup.recent_keys(session.connection().engine)
    _ingest_in(first, service_id, [_fire(f"host-{n:02d}") for n in range(40)])
    for n in range(4):  # the first merge: sorted whole, four passes
        _ingest_in(first, service_id, [_fire(f"late-{n}")])
    assert _merged(first)[0] == 40
    bounds = list(tier.bounds)
    assert len(bounds) == 3 and bounds == sorted(bounds)

    second_batch = [f"host-{n:02d}-b" for n in range(36)]
    _ingest_in(first, service_id, [_fire(key) for key in second_batch])  # 40 held now
    before = _merged_keys(first)
    ranges = []
    for n in range(4):
        _ingest_in(first, service_id, [_fire(f"later-{n}")])
        now_merged = _merged_keys(first)
        ranges.append({sum(key >= bound for bound in bounds) for key in now_merged - before})
        before = now_merged
    assert all(len(found) <= 1 for found in ranges), ranges  # one key range per pass
    assert set(second_batch) <= _merged_keys(first)
    assert _firing_per_key(first, service_id) == {
        **{f"host-{n:02d}": 1 for n in range(40)},
        **dict.fromkeys(second_batch, 1),
        **{f"late-{n}": 1 for n in range(4)},
        **{f"later-{n}": 1 for n in range(4)},
    }

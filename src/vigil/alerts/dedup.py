"""SQLite's dedup keys in two tiers: recent alerts' keys in memory, older ones merged in bulk.

Every new alert's key lands at a random place in any index on dedup keys (fingerprints are
hashes), so a commit of a few hundred new alerts dirtied a page of the index per alert and wrote
each of those pages to the write-ahead log: in an alert storm that was about 10 µs of the ingest
writer's 24 µs per alert, the wall in front of issue #2's throughput target (docs/PERFORMANCE.md,
sessions 15–19). This is a two-level LSM tree instead:

- Alerts above a watermark (`alert_key_merges.merged_upto`) are the recent tier. Their keys
  are in no index on disk: each process that ingests keeps them in memory (`RecentAlertKeys`),
  read from the alerts table itself, whose rows SQLite appends in id order.
- Once the recent tier holds `MERGE_EVERY` alerts, the ingest pass that notices moves their keys
  into `alert_keys` (a table clustered on service, key and alert id) in one sorted insert, and
  raises the watermark, in its own transaction: a batch of sorted keys shares index pages, so
  a merge writes each page once for dozens of alerts.

A lookup asks both tiers. Nothing in the database enforces one firing alert per key any more:
on SQLite every writer takes the database's one write lock for its whole transaction, and the
memory tier is brought up to date under that lock at the start of every pass (`refresh`), from
alerts any process inserted since. PostgreSQL, whose writers run concurrently, keeps its unique
index (`uq_alerts_service_dedup_key_open`) and does not use any of this.

The memory tier is a cache of what is committed; whatever it learns inside a transaction (from
its own inserts or its reads) is tentative until that connection commits. A rollback of that
transaction, or any change it cannot account for (another process merged, a service's alerts
were deleted: `alert_key_merges.generation`), makes it read the recent tier again.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from vigil.alerts.models import Alert, AlertKey
from vigil.storage.driver import Driver, Sql

# Alerts in the recent tier that call for a merge. In the storage floor's measurements
# (`bench/ingest_floor.py --tiers`), 30,000 cost 7.2 µs an alert and 60,000 6.2, against 11.5 µs
# for the one index; the memory tier holds about 120 bytes per key.
MERGE_EVERY = 40_000

# No row until the first merge or deletion: nothing merged, generation 0.
_STATE = Sql("SELECT merged_upto, generation FROM alert_key_merges WHERE id = 1")
_TOP = Sql("SELECT COALESCE(MAX(id), 0) FROM alerts")
_RECENT_ROWS = Sql(
    "SELECT id, service_id, dedup_key FROM alerts WHERE id > :after AND id <= :upto ORDER BY id"
)
_MERGE = Sql(
    "INSERT INTO alert_keys (service_id, dedup_key, alert_id)"
    " SELECT service_id, dedup_key, id FROM alerts WHERE id > :after AND id <= :upto"
    " ORDER BY service_id, dedup_key, id"
)
_SET_WATERMARK = Sql(
    "INSERT INTO alert_key_merges (id, merged_upto, generation) VALUES (1, :upto, 0)"
    " ON CONFLICT (id) DO UPDATE SET merged_upto = excluded.merged_upto"
)
# After alerts are deleted: ids at the top are free again (SQLite takes the largest id plus one),
# so the watermark comes down to the largest left, or new alerts would take ids "merged" already
# and no tier would hold their keys; and every process reads its recent tier again.
_AFTER_DELETE = (
    "INSERT INTO alert_key_merges (id, merged_upto, generation) VALUES (1, 0, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = alert_key_merges.generation + 1,"
    " merged_upto = MIN(alert_key_merges.merged_upto, (SELECT COALESCE(MAX(id), 0) FROM alerts))"
)


class RecentAlertKeys:
    """The recent tier of one SQLite database, as one process knows it: for each service, each
    dedup key's alert ids above the watermark, oldest first."""

    def __init__(self) -> None:
        self.keys: dict[int, dict[str, list[int]]] = {}
        self.merged_upto = -1  # -1: never read
        self.generation = -1
        self.top = 0  # the largest alert id accounted for
        self.size = 0  # alert ids held
        # The connection whose transaction taught this cache something not yet committed.
        self._tentative: sa.Connection | None = None
        self._lock = threading.Lock()

    # --- kept in step with transactions (connection events, any thread) ---

    def _committed(self, connection: sa.Connection) -> None:
        if connection is self._tentative:
            self._tentative = None

    def _rolled_back(self, connection: sa.Connection, *_args: object) -> None:
        if connection is self._tentative:
            self.forget()

    def forget(self) -> None:
        """Read the recent tier again at the next `refresh`."""
        with self._lock:
            self.keys = {}
            self.merged_upto = -1
            self.generation = -1
            self.top = 0
            self.size = 0
            self._tentative = None

    # --- under the database's write lock, inside the ingest transaction ---

    def refresh(self, driver: Driver) -> None:
        """Bring the tier up to date with the database (the caller holds the write lock)."""
        connection = driver.connection
        state = driver.rows(_STATE)
        merged_upto, generation = state[0] if state else (0, 0)
        ((top,),) = driver.rows(_TOP)
        if top < merged_upto:  # alerts at the top went without `delete_alerts_of_service`
            driver.run(_SET_WATERMARK, upto=top)
            merged_upto = top
            generation = -2  # read everything again
        stale = (
            merged_upto != self.merged_upto
            or generation != self.generation
            or top < self.top
            or (self._tentative is not None and self._tentative is not connection)
        )
        if stale:
            self.forget()
            self.merged_upto, self.generation = merged_upto, generation
            self.top = merged_upto
        if top > self.top:
            self._tentative = connection
            rows = driver.rows(_RECENT_ROWS, after=self.top, upto=top)
            for alert_id, service_id, key in rows:
                self._add(service_id, key, alert_id)
            self.top = top

    def merge_if_due(self, driver: Driver) -> None:
        """Move the recent tier's keys into `alert_keys` once it holds `MERGE_EVERY` alerts."""
        if self.size < MERGE_EVERY:
            return
        driver.run(_MERGE, after=self.merged_upto, upto=self.top)
        driver.run(_SET_WATERMARK, upto=self.top)
        self._tentative = driver.connection
        self.keys = {}
        self.size = 0
        self.merged_upto = self.top

    def inserted(self, driver: Driver, service_id: int, rows: Iterable[tuple[str, int]]) -> None:
        """Alerts the pass has just inserted, (key, id) in id order: the next ids after `top`."""
        self._tentative = driver.connection
        keys = self.keys.setdefault(service_id, {})
        last = self.top
        added = 0
        for key, alert_id in rows:
            ids = keys.get(key)
            if ids is None:
                keys[key] = [alert_id]
            else:
                ids.append(alert_id)
            last = alert_id
            added += 1
        self.size += added
        self.top = last

    def ids_of(self, service_id: int, keys: Iterable[str]) -> dict[str, list[int]]:
        """The recent tier's alert ids of those of `keys` it holds."""
        held = self.keys.get(service_id)
        if not held:
            return {}
        return {key: ids for key in keys if (ids := held.get(key)) is not None}

    def _add(self, service_id: int, key: str, alert_id: int) -> None:
        keys = self.keys.setdefault(service_id, {})
        ids = keys.get(key)
        if ids is None:
            keys[key] = [alert_id]
        else:
            ids.append(alert_id)
        self.size += 1


_TIERS: weakref.WeakKeyDictionary[sa.Engine, RecentAlertKeys] = weakref.WeakKeyDictionary()
_TIERS_LOCK = threading.Lock()


def recent_keys(engine: sa.Engine) -> RecentAlertKeys:
    """This process's recent tier of `engine`'s database, following its transactions."""
    tier = _TIERS.get(engine)
    if tier is not None:
        return tier
    with _TIERS_LOCK:
        tier = _TIERS.get(engine)
        if tier is None:
            tier = _TIERS[engine] = RecentAlertKeys()
            event.listen(engine, "commit", tier._committed)
            event.listen(engine, "rollback", tier._rolled_back)
            event.listen(engine, "rollback_savepoint", tier._rolled_back)
        return tier


def delete_alerts_of_service(session: Session, service_id: int) -> None:
    """Delete a service's alerts with their keys, keeping both tiers true (any database)."""
    session.execute(sa.delete(Alert).where(Alert.service_id == service_id))
    if session.get_bind().dialect.name == "postgresql":
        return
    session.execute(sa.delete(AlertKey).where(AlertKey.service_id == service_id))
    session.execute(sa.text(_AFTER_DELETE))

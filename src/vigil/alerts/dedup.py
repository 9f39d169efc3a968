"""SQLite's dedup keys in two tiers: recent alerts' keys in memory, older ones merged in bulk.

Every new alert's key lands at a random place in any index on dedup keys (fingerprints are
hashes), so a commit of a few hundred new alerts dirtied a page of the index per alert and wrote
each of those pages to the write-ahead log: in an alert storm that was about 10 µs of the ingest
writer's 24 µs per alert, the wall in front of issue #2's throughput target (docs/PERFORMANCE.md,
sessions 15–19). This is a two-level LSM tree instead:

- Alerts above a watermark (`alert_key_merges.merged_upto`) are the recent tier. Their keys
  are in no index on disk: each process that ingests keeps them in memory (`RecentAlertKeys`),
  read from the alerts table itself, whose rows SQLite appends in id order.
- Once the recent tier holds `MERGE_EVERY` alerts, they become a batch that the next
  `MERGE_SLICES` ingest passes insert into `alert_keys` (a table clustered on service, key and
  alert id) a slice each, in key order; the last raises the watermark. Sorted keys share index
  pages, so a merge writes each page once for many alerts, and a slice is a range of keys, so
  each pass writes only that range's pages. Alerts are sorted into their slice's range as they
  arrive, by the ranges the last merge found (`bounds`), and each pass sorts only its own slice:
  sorting a whole batch at once took one pass 30–45 ms, in which no alert was answered.

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
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from vigil.alerts.models import Alert, AlertKey
from vigil.storage.db import is_postgres
from vigil.storage.driver import Driver, Sql

# Alerts in the recent tier that call for a merge: 5.9 µs an alert in the storage floor against
# 10.3 for the one unique index (`bench/ingest_floor.py`); the memory tier holds about 190 bytes
# per key.
MERGE_EVERY = 40_000
# A merge goes in this many passes, each a slice of its keys in key order: one statement for all
# of them held SQLite's write lock for 204 ms once `alert_keys` had 1.5 million keys (every page of
# the index a batch lands on is written), and single alerts' p99 at half rate went past 50 ms.
# A slice of the sorted batch is a range of keys, so it lands on that range's pages only.
MERGE_SLICES = 16

# The watermark, its generation and the largest alert id, in one statement (one per pass). No
# row until the first merge or deletion: nothing merged, generation 0.
_STATE = Sql(
    "SELECT COALESCE((SELECT merged_upto FROM alert_key_merges WHERE id = 1), 0),"
    " COALESCE((SELECT generation FROM alert_key_merges WHERE id = 1), 0),"
    " COALESCE((SELECT MAX(id) FROM alerts), 0)"
)
_RECENT_ROWS = Sql(
    "SELECT id, service_id, dedup_key FROM alerts WHERE id > :after AND id <= :upto ORDER BY id"
)
# OR IGNORE: a slice merged by a process that crashed, or by another process, may come again.
_MERGE_SLICE = "INSERT OR IGNORE INTO alert_keys (service_id, dedup_key, alert_id) VALUES (?, ?, ?)"
# Raised only from where this process read it, in the generation it read (a deletion since
# means some of the batch's ids may have gone to other alerts).
_RAISE_WATERMARK = Sql(
    "INSERT INTO alert_key_merges (id, merged_upto, generation) VALUES (1, :upto, :generation)"
    " ON CONFLICT (id) DO UPDATE SET merged_upto = excluded.merged_upto"
    " WHERE alert_key_merges.merged_upto = :after"
    " AND alert_key_merges.generation = excluded.generation"
)
# After alerts are deleted: ids at the top are free again (SQLite takes the largest id plus one),
# so the watermark comes down to the largest left, or new alerts would take ids "merged" already
# and no tier would hold their keys; and every process reads its recent tier again.
_AFTER_DELETE = Sql(
    "INSERT INTO alert_key_merges (id, merged_upto, generation) VALUES (1, 0, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = alert_key_merges.generation + 1,"
    " merged_upto = MIN(alert_key_merges.merged_upto, (SELECT COALESCE(MAX(id), 0) FROM alerts))"
)

_Keys = dict[int, dict[str, list[int]]]
# One slice's alerts as service id, dedup key, alert id, service id, ...: three list slots an
# alert rather than a tuple of its own (the ingest writer holds 40,000 and their merge's).
_Part = list[int | str]


class RecentAlertKeys:
    """The recent tier of one SQLite database, as one process knows it: for each service, each
    dedup key's alert ids above the watermark, oldest first.

    While a merge is under way its keys stay in `merging` (and are looked up there) until the
    watermark rises past them; alerts inserted meanwhile go to `keys`.
    """

    def __init__(self) -> None:
        self.keys: _Keys = {}
        self.merging: _Keys = {}
        self.merged_upto = -1  # -1: never read
        self.generation = -1
        self.top = 0  # the largest alert id accounted for
        self.size = 0  # alert ids held in `keys`
        # The dedup keys at which each slice after the first begins (in every service: a slice
        # is a range of keys within each service's part of the table). Learned from each merged
        # batch for the next; a process's first merge takes them from its own batch.
        self.bounds: list[str] = []
        self._parts: list[_Part] = []  # `keys`' alerts by slice, once `bounds` are known
        self._slices: list[_Part] = []  # the merge under way, by slice
        self._batch_end = 0  # the watermark once the batch is merged
        self._batch_size = 0  # alerts in the batch
        self._merged = 0  # of them merged so far (slices `[:_sliced]`)
        self._sliced = 0  # slices merged so far
        self._next_bounds: list[str] = []  # the keys at the batch's sixteenths, as found
        # The connection whose transaction taught this cache something not yet committed.
        self._tentative: sa.Connection | None = None

    # --- kept in step with transactions (events of the connection that ingests) ---

    def _committed(self, connection: sa.Connection) -> None:
        if connection is self._tentative:
            self._tentative = None

    def _rolled_back(self, connection: sa.Connection, *_args: object) -> None:
        if connection is self._tentative:
            self.forget()

    def forget(self) -> None:
        """Read the recent tier again at the next `refresh` (and start any merge over)."""
        self.keys = {}
        self.merging = {}
        self.merged_upto = -1
        self.generation = -1
        self.top = 0
        self.size = 0
        self._parts = _empty_parts() if self.bounds else []
        self._slices = []
        self._batch_end = 0
        self._tentative = None

    # --- under the database's write lock, inside the ingest transaction ---

    def refresh(self, driver: Driver) -> None:
        """Bring the tier up to date with the database (the caller holds the write lock)."""
        connection = driver.connection
        ((merged_upto, generation, top),) = driver.rows(_STATE)
        if top < merged_upto:  # alerts at the top went without `delete_alerts_of_service`
            driver.run(_AFTER_DELETE)
            ((merged_upto, generation, top),) = driver.rows(_STATE)
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
                self._hold(service_id, key, alert_id)
            self.size += len(rows)
            self.top = top

    def merge_step(self, driver: Driver) -> None:
        """Start a merge once the tier holds `MERGE_EVERY` alerts, or merge the next slice of
        the one under way; the last slice raises the watermark."""
        if not self._slices:
            if self.size < MERGE_EVERY:
                return
            if not self.bounds:  # this process's first merge: the ranges of the batch itself
                held = sorted(key for service_keys in self.keys.values() for key in service_keys)
                self.bounds = [held[len(held) * n // MERGE_SLICES] for n in range(1, MERGE_SLICES)]
                self._parts = _empty_parts()
                for service_id, service_keys in self.keys.items():
                    for key, ids in service_keys.items():
                        part = self._parts[bisect_right(self.bounds, key)]
                        for alert_id in ids:
                            part += (service_id, key, alert_id)
            self._slices, self._parts = self._parts, _empty_parts()
            self.merging, self.keys = self.keys, {}
            self._batch_end, self._batch_size, self.size = self.top, self.size, 0
            self._merged, self._sliced, self._next_bounds = 0, 0, []
        self._tentative = driver.connection
        slices = self._slices
        while self._sliced < len(slices):
            part = slices[self._sliced]
            self._sliced += 1
            if part:
                rows = sorted(zip(part[::3], part[1::3], part[2::3], strict=True))
                driver.sqlite_many(_MERGE_SLICE, rows)
                self._note_bounds(rows)
                break
        if any(slices[self._sliced :]):
            return
        driver.run(
            _RAISE_WATERMARK,
            upto=self._batch_end,
            after=self.merged_upto,
            generation=self.generation,
        )
        self.merged_upto = self._batch_end
        self.merging = {}
        self._slices = []
        self.bounds = sorted(self._next_bounds)

    def _note_bounds(self, rows: list[Any]) -> None:
        """Keep the keys of a merged slice's rows (sorted) that cut the batch into even parts:
        the next batch's ranges."""
        for n in range(1, MERGE_SLICES):
            position = self._batch_size * n // MERGE_SLICES - self._merged
            if 0 <= position < len(rows):
                self._next_bounds.append(rows[position][1])
        self._merged += len(rows)

    def inserted(self, driver: Driver, service_id: int, rows: Iterable[tuple[str, int]]) -> None:
        """Alerts the pass has just inserted, (key, id) in id order: the next ids after `top`."""
        self._tentative = driver.connection
        added = 0
        for key, alert_id in rows:
            self._hold(service_id, key, alert_id)
            added += 1
        if added:
            self.size += added
            self.top = alert_id

    def _hold(self, service_id: int, key: str, alert_id: int) -> None:
        _add(self.keys, service_id, key, alert_id)
        if self.bounds:
            self._parts[bisect_right(self.bounds, key)] += (service_id, key, alert_id)

    def ids_of(self, service_id: int, keys: Iterable[str]) -> dict[str, list[int]]:
        """The recent tier's alert ids of those of `keys` it holds, oldest first."""
        held = self.keys.get(service_id) or {}
        merging = self.merging.get(service_id) or {}
        if not held and not merging:
            return {}
        found = {}
        for key in keys:
            older = merging.get(key)
            newer = held.get(key)
            if older is not None or newer is not None:
                found[key] = [*(older or ()), *(newer or ())]
        return found


def _empty_parts() -> list[_Part]:
    return [[] for _ in range(MERGE_SLICES)]


def _add(keys: _Keys, service_id: int, key: str, alert_id: int) -> None:
    service_keys = keys.get(service_id)
    if service_keys is None:
        service_keys = keys[service_id] = {}
    ids = service_keys.get(key)
    if ids is None:
        service_keys[key] = [alert_id]
    else:
        ids.append(alert_id)


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
    if is_postgres(session):
        return
    session.execute(sa.delete(AlertKey).where(AlertKey.service_id == service_id))
    session.execute(sa.text(_AFTER_DELETE.sqlite))

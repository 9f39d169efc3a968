"""Server time for the first page of the incidents list with 10,000 incidents in the database
(target: under 100 ms), on SQLite and PostgreSQL.

The app runs in process (FastAPI's TestClient), signed in as an admin, so the figure is the
server's own time for `GET /incidents`: the query, the rendering and the middleware.

    .venv/bin/python bench/web.py [--database sqlite|postgresql|both] [--incidents 10000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from vigil.accounts import service as accounts
from vigil.accounts.models import Role
from vigil.accounts.schemas import UserCreate
from vigil.api.app import create_app
from vigil.clock import FakeClock
from vigil.config import Settings
from vigil.incidents.models import Incident
from vigil.services import service as services
from vigil.services.schemas import ServiceCreate
from vigil.storage import migrate
from vigil.storage.db import Database
from vigil.web import set_password

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def seed(db: Database, count: int) -> str:
    with db.unit_of_work() as session:
        admin = accounts.create_user(
            session,
            data=UserCreate(name="Admin", email="admin@example.com", role=Role.ADMIN),
            now=NOW,
        )
        set_password(session, user_id=admin.id, password=PASSWORD)
        service = services.create_service(session, data=ServiceCreate(name="checkout"), now=NOW)
        rows = [
            {
                "title": f"Checkout error rate high #{n}",
                "description": "",
                "service_id": service.id,
                "affected_service_ids": [service.id],
                "severity": f"SEV{n % 4 + 1}",
                "severity_set_by_user": False,
                "urgency": "high" if n % 4 < 2 else "low",
                "status": ("triggered", "acknowledged", "resolved")[n % 3],
                "alert_count": 1,
                "impact": {},
                "created_at": NOW - timedelta(minutes=count - n),
                "updated_at": NOW - timedelta(minutes=count - n),
            }
            for n in range(count)
        ]
        for start in range(0, count, 1000):
            session.execute(sa.insert(Incident), rows[start : start + 1000])
    return "admin@example.com"


def measure(db: Database, email: str, runs: int = 15) -> list[float]:
    settings = Settings(data_dir=tempfile.mkdtemp(), secret_key="bench", base_url="http://bench")
    app = create_app(settings, db=db, clock=FakeClock(NOW))
    with TestClient(app) as client:
        token = CSRF.search(client.get("/login").text)
        assert token
        response = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf": token.group(1)},
            follow_redirects=False,
        )
        assert response.status_code in (302, 303), response.text[:200]
        client.get("/incidents")  # warm the template cache
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            page = client.get("/incidents")
            times.append((time.perf_counter() - started) * 1000)
            assert page.status_code == 200 and "Checkout error rate high" in page.text
    return times


def run(kind: str, count: int) -> None:
    cleanup = None
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    else:
        name = f"vigil_bench_web_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    try:
        migrate.upgrade(url)
        db = Database.from_url(url)
        email = seed(db, count)
        times = measure(db, email)
        p90 = sorted(times)[int(len(times) * 0.9)]
        print(
            f"{kind}: GET /incidents with {count} incidents: "
            f"median {statistics.median(times):.1f} ms, p90 {p90:.1f} ms, "
            f"best {min(times):.1f} ms (target < 100 ms)"
        )
        db.dispose()
    finally:
        if cleanup:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--incidents", type=int, default=10_000)
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        run(kind, args.incidents)


if __name__ == "__main__":
    main()

"""Settings: the only place Vigil reads the environment (VIGIL_* variables)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    data_dir: Path = Field(default=Path(".vigil"), description="Where SQLite and local state live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite under data_dir."
    )
    base_url: str = Field(
        default="http://127.0.0.1:8080", description="How users and senders reach this server."
    )
    secret_key: str | None = Field(
        default=None, description="Signs links and cookies; generated under data_dir if unset."
    )
    host: str = "127.0.0.1"
    port: int = 8080
    worker_interval_seconds: float = Field(default=1.0, gt=0)
    # `vigil serve`'s embedded worker: a child process (a core of its own) or a thread.
    embedded_worker: Literal["process", "thread"] = "process"
    # `vigil serve`'s ingest writer: a child process (a core of its own), or a thread in each
    # HTTP process.
    ingest_writer: Literal["process", "thread"] = "process"
    # `vigil serve`'s HTTP processes on one port (SO_REUSEPORT); 0: one per CPU core.
    http_processes: int = Field(default=1, ge=0)
    raw_payload_limit_bytes: int = Field(default=16_384, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Inbound bodies one HTTP process holds at once, read and not yet answered; more wait
    # (`vigil.api.fastlane.InboundBudget`).
    inbound_bytes_in_flight: int = Field(default=2_097_152, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    # Outbound notifications. Without an SMTP host, email is printed to the console instead.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "vigil@localhost"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    notify_http_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_max_attempts: int = Field(default=5, ge=1, le=20)
    notify_claim_seconds: float = Field(default=60, gt=0)
    # Incident command.
    war_room_template: str | None = Field(
        default=None, description="e.g. https://meet.example.com/inc-{number}"
    )
    update_cadence_sev1_minutes: int = Field(default=30, ge=1)
    update_cadence_sev2_minutes: int = Field(default=60, ge=1)
    stakeholder_burst: int = Field(
        default=5,
        ge=0,
        description="Alert-opened incidents a stakeholder channel hears of one by one per window;"
        " the rest come in one digest when the window ends.",
    )
    stakeholder_burst_minutes: int = Field(default=10, ge=1, le=1440)
    severity_sev1_customers: int = Field(default=10_000, ge=1)
    severity_sev2_customers: int = Field(default=100, ge=1)
    severity_sev1_revenue: float = Field(default=100_000, ge=0)
    severity_sev2_revenue: float = Field(default=10_000, ge=0)
    # Everyday CLI commands talk to a server like kubectl does.
    url: str | None = Field(default=None, description="Server the CLI talks to.")
    token: str | None = Field(default=None, description="API token the CLI uses.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"

    @property
    def cli_token_file(self) -> Path:
        return self.data_dir / "cli-token"

    def resolved_secret_key(self) -> str:
        """VIGIL_SECRET_KEY, or a random key kept under data_dir so restarts keep links valid."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret-key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

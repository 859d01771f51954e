"""Settings, read from ``ATLAS_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

import base64
import ipaddress
import logging
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from atlas_services.client_address import IPNetwork, parse_networks

# Development defaults: usable out of the box, refused in production.
DEV_ENCRYPTION_KEYS = "dev1:" + base64.b64encode(b"atlas-development-key-not-secret").decode()
DEV_SECRET_KEY = "atlas-development-secret-not-secret"  # noqa: S105  (refused in production)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    # Unset: `atlas run` starts an embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # Connections each process keeps open to PostgreSQL, and how many more it may open in a burst; an overflow
    # connection is closed when returned, so a pool smaller than the process's busy threads reconnects on every
    # burst (bench/start_gate.py counts it). Budget: (web + worker processes) x (pool + overflow) + a few for
    # psql and migrations <= PostgreSQL max_connections - superuser_reserved_connections.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    # Unset: huey keeps its queue in SQLite under data_dir.
    redis_url: str | None = None
    # Graph request budget (graph.budget_redis): "shared" keeps it in Redis when redis_url is set, so that every
    # worker draws from one budget per tenant and app; "process" paces each process alone (as without Redis).
    graph_budget: Literal["shared", "process"] = "shared"
    # Queue name in Redis / SQLite; tests use their own so they never see another run's tasks.
    queue_name: str = "atlas"
    data_dir: str = ".atlas"
    # "id:base64key[,id:base64key...]"; the first is the primary (used to seal), the rest only open.
    encryption_keys: str = DEV_ENCRYPTION_KEYS
    secret_key: str = DEV_SECRET_KEY
    simulator_url: str = "http://127.0.0.1:8765"
    # What the connection form offers first; `atlas run` (the demo) and the tests use the simulator.
    default_cloud: Literal["global", "usgov", "usgov_dod", "china", "simulator"] = "global"
    web_host: str = "127.0.0.1"
    # The address users reach the web tier at (through a TLS proxy, say). https → the session cookie is
    # `__Host-atlas_session` with Secure. Unset: the cookie is Secure only when the app itself sees https.
    public_url: str = ""
    web_port: int = 3000
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    heartbeat_seconds: int = Field(default=10, ge=1)
    heartbeat_timeout_seconds: int = Field(default=60, ge=5)
    # A queued run fails with run.start_timeout only when no worker has been alive for this long; never for waiting.
    start_timeout_seconds: int = Field(default=600, ge=10)
    # How long the worker waits for PostgreSQL to come back (a restart, a failover) when it cannot connect, before
    # the run it is working on fails; below the heartbeat timeout, so a run that rode it out is not reaped.
    worker_db_wait_seconds: int = Field(default=30, ge=0, le=600)
    # How often each worker's scheduler loop starts the due schedules (0: no loop; `atlas scheduler tick` still works).
    scheduler_interval_seconds: int = Field(default=30, ge=0, le=3600)
    # Alerts (issue 10). The hosts a webhook may target at all (comma-separated; e.g.
    # "hooks.slack.com,*.webhook.office.com"); a host listed here may also resolve to a private or loopback
    # address, any other is refused. Empty: no webhook can be set.
    alert_hosts: str = ""
    # How often each worker's alert pass looks for new events (0: no loop), and after how many skips in a row a
    # schedule is alerted.
    alert_interval_seconds: int = Field(default=30, ge=0, le=3600)
    alert_skip_threshold: int = Field(default=3, ge=1, le=1000)
    # Sending: attempts per alert and the first retry delay (doubled each time).
    alert_max_attempts: int = Field(default=5, ge=1, le=20)
    alert_retry_seconds: float = Field(default=30, ge=0, le=3600)
    # Runs of one suite tenant running at once, across all workers (0: no cap). A run over the cap stays queued
    # and is offered again after tenant_cap_retry_seconds x (1 + its place in the tenant's line // cap), at most
    # tenant_cap_retry_max_seconds.
    tenant_run_cap: int = Field(default=0, ge=0)
    tenant_cap_retry_seconds: float = Field(default=5.0, gt=0)
    tenant_cap_retry_max_seconds: float = Field(default=60.0, gt=0)
    # The reaper re-enqueues queued runs whose job is not in the queue (lost in a Redis flush, say) once they are
    # this old, so a run whose job is being enqueued or handed to a worker right now is left alone.
    outbox_grace_seconds: int = Field(default=15, ge=1)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    # Comma-separated CIDRs of the reverse proxies in front of the web tier; only a request whose direct peer is
    # inside one has its client address read from X-Forwarded-For. Default: none (the peer is the client).
    trusted_proxies: str = ""
    # GET /metrics: with a token, a request must send "Authorization: Bearer <token>"; without one, only loopback
    # clients are answered. Scrapes within metrics_cache_seconds of each other share one read of PostgreSQL.
    metrics_token: SecretStr | None = None
    metrics_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Every process's log lines (atlas_services.logs): "text" for a terminal, "json" (one object per line) for a
    # log shipper; the level names Python's (DEBUG, INFO, WARNING, ERROR).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _log_words(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.strip().lower() if info.field_name == "log_format" else value.strip().upper()

    @model_validator(mode="after")
    def _refuse_defaults_in_production(self) -> Settings:
        defaults = []
        if self.encryption_keys == DEV_ENCRYPTION_KEYS:
            defaults.append("ATLAS_ENCRYPTION_KEYS")
        if self.secret_key == DEV_SECRET_KEY:
            defaults.append("ATLAS_SECRET_KEY")
        if defaults:
            message = f"{', '.join(defaults)} still hold the development default"
            if self.env == "production":
                raise ValueError(message + "; set real values before starting in production")
            if self.env == "development":
                logging.getLogger("atlas").warning("warning: %s (fine for development only)", message)
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with psycopg 3 as the driver."""
        if not self.database_url:
            raise RuntimeError("ATLAS_DATABASE_URL is not set")
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url


class DevelopmentKeyRefused(RuntimeError):
    """The development encryption key where it could protect real credentials (its bytes are in the source)."""


def refuse_development_key(settings: Settings) -> None:
    """Raise DevelopmentKeyRefused unless the sealing key is real, or this is development on loopback only.

    The web tier and the worker call this at start; tests run with a key of their own (tests/plugins/backing.py).
    """
    # Compared by the key itself, not its id: renaming "dev1" does not make the key secret.
    primary = settings.encryption_keys.split(",")[0].strip().partition(":")[2]
    if primary != DEV_ENCRYPTION_KEYS.partition(":")[2] or (
            settings.env == "development" and _loopback(settings.web_host)):
        return
    raise DevelopmentKeyRefused(
        f"ATLAS_ENCRYPTION_KEYS holds the development key, which only ATLAS_ENV=development on a loopback "
        f"ATLAS_WEB_HOST may use (here ATLAS_ENV={settings.env}, ATLAS_WEB_HOST={settings.web_host}); "
        "set ATLAS_ENCRYPTION_KEYS to id:<base64 of 32 random bytes>")


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

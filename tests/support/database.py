"""Emptying the test database, and the seeded demo for fixtures wider than one test."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from atlas_cli.demo import seed_demo
from atlas_services.db import get_engine

TABLES = ["sso_flows", "sso_identities", "sso_configs",
          "alerts", "alert_webhooks", "tenant_mfa_policies", "totp_recovery_codes", "totp_enrolments",
          "second_factor_challenges",
          "audit_events", "schedules", "schedule_policies", "operation_runs", "provider_credentials",
          "provider_connections", "user_sessions", "memberships", "users", "tenants", "worker_processes",
          "ops_counters"]


def empty_tables(*, login_attempts: bool = False) -> None:
    """Remove every row the app writes (sign-in throttling's ``login_attempts`` only when asked)."""
    tables = [*TABLES, "login_attempts"] if login_attempts else TABLES
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))


def reset_and_seed_demo() -> dict[str, Any]:
    """Empty the database and seed the demo (for module-scoped fixtures, which cannot use ``db``)."""
    empty_tables(login_attempts=True)
    return seed_demo()

"""Tables (DESIGN.md §5), one module per area; importing this package registers every table on SQLModel.metadata.
Schema changes go through Alembic migrations, never ``create_all``."""

from atlas_services.models.alerts import Alert, AlertEvent, AlertStatus, AlertWebhook, WebhookKind
from atlas_services.models.core import (
    ACTIVE_RUN_PREDICATE,
    ACTIVE_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    AppRegistrationCredential,
    AuditEvent,
    Cloud,
    ComplianceSnapshot,
    CredentialKind,
    HealthStatus,
    InventoryItem,
    InventoryKind,
    Invitation,
    LoginAttempt,
    Membership,
    OperationRun,
    ProviderConnection,
    ProviderCredential,
    Role,
    RunStatus,
    RunTrigger,
    Tenant,
    TenantChangeStamp,
    User,
    UserSession,
    utcnow,
)
from atlas_services.models.fleet import Schedule, SchedulePolicy, WorkerProcess
from atlas_services.models.mfa import SecondFactorChallenge, TenantMfaPolicy, TotpEnrolment, TotpRecoveryCode
from atlas_services.models.ops import OpsCounter
from atlas_services.models.sso import SsoConfig, SsoFlow, SsoIdentity

__all__ = [
    "SsoConfig", "SsoFlow", "SsoIdentity",
    "ACTIVE_RUN_PREDICATE", "ACTIVE_RUN_STATUSES", "Alert", "AlertEvent", "AlertStatus", "AlertWebhook",
    "WebhookKind", "FINISHED_RUN_STATUSES", "AppRegistrationCredential", "AuditEvent",
    "Cloud", "ComplianceSnapshot", "CredentialKind", "HealthStatus", "InventoryItem", "InventoryKind", "Invitation",
    "LoginAttempt", "Membership", "OperationRun", "OpsCounter", "ProviderConnection", "ProviderCredential", "Role",
    "RunStatus",
    "RunTrigger", "Schedule", "SchedulePolicy", "SecondFactorChallenge", "Tenant", "TenantChangeStamp",
    "TenantMfaPolicy", "TotpEnrolment", "TotpRecoveryCode", "User", "UserSession", "WorkerProcess", "utcnow",
]

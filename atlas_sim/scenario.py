"""Scenario files: the Entra tenants, app registrations, credentials, Intune data and faults the simulator serves.

Format (YAML, snake_case keys; unknown keys are refused so typos fail loudly; every field but the tenant's id,
display_name and verified_domains is optional)::

    name: demo
    description: free text
    seed: 0                               # device ids, names and attributes derive from it (default 0)
    page_sizes:                           # items per page (defaults: Graph's observed sizes, see PAGE_SIZES)
      managedDevices: 1000
    faults: []                            # faults for every tenant's Graph requests (see below)
    tenants:
      - id: <GUID>                        # the Entra tenant id (Directory ID)
        display_name: Contoso
        country_letter_code: US
        verified_domains:                 # at least one; first *.onmicrosoft.com is the initial domain
          - name: contoso.onmicrosoft.com
          - name: contoso.example
            default: true                 # else the first domain is the default
        apps:
          - client_id: <GUID>
            display_name: Atlas
            permissions: [Organization.Read.All]    # granted + consented Graph application permissions
            pending_permissions: []       # consented in the directory, not yet in issued tokens (propagating)
            registered_here: true         # false: a multi-tenant app registered elsewhere (no application object)
            secrets:
              - value: "demo-..."
                id: <GUID>                # the "Secret ID" Entra shows beside the value
                expired: false
                expires_in_days: 365      # its endDateTime, from the simulator's start (default 365; expired: -10)
                display_name: Atlas       # the secret's description in the portal
        intune:
          licensed: true                  # false: Intune paths answer 400 "Request not applicable to target tenant."
          unlicensed_answer: bad_request  # or unauthorized (401) / unknown_error (403): the doubly nested
                                          # UnknownError {"ErrorCode":"Forbidden"} form Intune also sends
          devices: 250                    # a count, or a mapping with distributions (weights, any scale):
          # devices:
          #   count: 250
          #   operating_systems: {Windows: 55, iOS: 20, Android: 15, macOS: 10}
          #   compliance: {compliant: 82, noncompliant: 10, inGracePeriod: 4, unknown: 2, error: 1, conflict: 1}
          #   ownership: {company: 85, personal: 15}
          #   encrypted_percent: 90
          configurations: 8               # device configuration profiles
          compliance_policies: 4
          mobile_apps: 20
        faults: []                        # faults for this tenant only
        token_lifetime: {requests: 3}     # and apps[].consent_lag: see atlas_sim.consistency
        shapes: {empty_pages: true}       # see atlas_sim.shapes

Faults (checked in order, tenant's before the scenario's; the first throttle, server_error or forbidden that
fires answers the request; slow, malformed_json and foreign_next_link change a response that is otherwise
normal)::

    - kind: throttle                      # 429 TooManyRequests
      retry_after: 1                      # seconds in Retry-After; omit for a 429 without the header
    - kind: server_error                  # 5xx; status 500 | 502 | 503 | 504 (default 503); retry_after optional
      status: 503
    - kind: slow                          # answer after `seconds`
      seconds: 2.5
    - kind: malformed_json                # a 200 whose body is cut off mid-JSON
    - kind: foreign_next_link             # the page's @odata.nextLink points at `host` (default graph.evil.invalid)
    - kind: forbidden                     # 403 as if the permission were missing (Intune-shaped for Intune paths,
                                          # Authorization_RequestDenied for directory paths)
    - kind: truncate_listing              # the listing ends at this page: no nextLink, @odata.count = the true total
      drop: 1                             # also cut this many items from the page's end (default 0)
      odata_count: true                   # false: no @odata.count either (see atlas_sim.truncation)
    # Which requests (all optional): paths are prefixes of the path after /v1.0, case-insensitive (default: all)
      paths: [/deviceManagement/managedDevices]
      every: 5                            # every 5th matching request, or
      rate: 0.2                           # this share of matching requests (seeded, so runs repeat)
      after: 2                            # let this many matching requests through first
      count: 3                            # fire at most this many times (a burst); default: no limit

Tests override faults at run time with ``RunningSimulator.faults(...)``. Faults of the token endpoint
(``token_faults``) and a tenant that lives in another cloud (``discovery``) are described in atlas_sim.token_faults.

Rate enforcement (``rate_limits:`` at the top level, Intune's and Graph's published limits) is described in
atlas_sim.rate_limits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from atlas_sim import fields
from atlas_sim.consistency import ConsentLag, TokenLifetime, parse_consent_lag, parse_token_lifetime
from atlas_sim.fields import ScenarioError as ScenarioError  # re-exported: callers catch it from here
from atlas_sim.rate_limits import RateLimits, parse_rate_limits
from atlas_sim.shapes import Shapes, parse_shapes

# The shared validators, under the names this module reads them by.
_mapping, _list, _str, _bool = fields.mapping, fields.items, fields.text, fields.boolean
_int, _number, _guid, _unique = fields.whole, fields.number, fields.guid, fields.unique

DEMO_SCENARIO_PATH = Path(__file__).with_name("scenarios") / "demo.yaml"

# Items per page when the caller sends no $top. Graph documents no per-API sizes; these follow what Graph is
# commonly observed to return: Intune lists page at 1000, directory lists at 100 ($top up to 999).
PAGE_SIZES: dict[str, int] = {
    "managedDevices": 1000,
    "deviceConfigurations": 1000,
    "deviceCompliancePolicies": 1000,
    "mobileApps": 1000,
    "appRoleAssignments": 100,
}
MAX_TOP: dict[str, int] = {name: (999 if name == "appRoleAssignments" else 1000) for name in PAGE_SIZES}

OPERATING_SYSTEMS = ("Windows", "iOS", "Android", "macOS")
# managedDevice.complianceState in Graph's v1.0 schema.
COMPLIANCE_STATES = ("unknown", "compliant", "noncompliant", "conflict", "error", "inGracePeriod", "configManager")
OWNER_TYPES = ("company", "personal", "unknown")
FAULT_KINDS = ("throttle", "server_error", "slow", "malformed_json", "foreign_next_link", "forbidden",
               "truncate_listing")
TERMINAL_FAULTS = frozenset({"throttle", "server_error", "forbidden"})
MAX_DEVICES = 1_000_000
SIMULATOR_CLOUD_INSTANCE = "sim.atlas.invalid"
UNLICENSED_ANSWERS = ("bad_request", "unauthorized", "unknown_error")


@dataclass(frozen=True)
class SimDomain:
    name: str
    is_default: bool = False
    is_initial: bool = False


@dataclass(frozen=True)
class SimSecret:
    value: str = field(repr=False)
    secret_id: str = ""
    expired: bool = False
    expires_in_days: int = 365
    display_name: str = ""

    @property
    def hint(self) -> str:
        # What Entra keeps of a secret besides its hash: the first three characters.
        return self.value[:3]


@dataclass(frozen=True)
class SimApp:
    client_id: str
    display_name: str
    secrets: tuple[SimSecret, ...] = ()
    permissions: frozenset[str] = frozenset()
    # Public certificates (PEM) registered on the app: client assertions must be signed by their keys.
    certificates: tuple[str, ...] = ()
    # Consented in the directory (app role assignments) but not yet in the tokens Entra issues: propagation.
    pending_permissions: frozenset[str] = frozenset()
    # False: a multi-tenant app whose application object lives in another tenant (Graph answers 404 for it here).
    registered_here: bool = True

    @property
    def consented(self) -> frozenset[str]:
        """What the directory's app role assignments hold: the token's roles plus those still propagating."""
        return self.permissions | self.pending_permissions
    consent_lag: ConsentLag | None = None

    def secret_matching(self, value: str) -> SimSecret | None:
        return next((s for s in self.secrets if s.value == value), None)

    @property
    def service_principal_id(self) -> str:
        # Stable per app so repeated runs see the same object id, as Entra would.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:sp:{self.client_id}"))


@dataclass(frozen=True)
class DeviceSpec:
    count: int = 0
    operating_systems: tuple[tuple[str, float], ...] = (("Windows", 55), ("iOS", 20), ("Android", 15), ("macOS", 10))
    compliance: tuple[tuple[str, float], ...] = (("compliant", 82), ("noncompliant", 10), ("inGracePeriod", 4),
                                                 ("unknown", 2), ("error", 1), ("conflict", 1))
    ownership: tuple[tuple[str, float], ...] = (("company", 85), ("personal", 15))
    encrypted_percent: float = 90.0


@dataclass(frozen=True)
class SimIntune:
    licensed: bool = True
    unlicensed_answer: str = "bad_request"
    devices: DeviceSpec = DeviceSpec()
    configurations: int = 0
    compliance_policies: int = 0
    mobile_apps: int = 0


@dataclass(frozen=True)
class FaultSpec:
    """One fault rule; see the module docstring for the YAML form."""

    kind: str
    paths: tuple[str, ...] = ()
    every: int | None = None
    rate: float | None = None
    after: int = 0
    count: int | None = None
    retry_after: float | None = None
    status: int = 503
    seconds: float = 0.0
    host: str = "graph.evil.invalid"
    drop: int = 0
    odata_count: bool = True

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_FAULTS

    def matches(self, path: str) -> bool:
        """``path`` is the request path after /v1.0, starting with a slash."""
        wanted = path.lower()
        return not self.paths or any(wanted.startswith(p.lower()) for p in self.paths)


@dataclass(frozen=True)
class TenantDiscovery:
    """Where OIDC discovery says a tenant lives (default: the simulator's own cloud); see atlas_sim.token_faults."""

    cloud_instance_name: str = SIMULATOR_CLOUD_INSTANCE
    tenant_region_scope: str = "NA"
    tenant_region_sub_scope: str | None = None

    @property
    def other_cloud(self) -> bool:
        return self.cloud_instance_name != SIMULATOR_CLOUD_INSTANCE


@dataclass(frozen=True)
class SimUser:
    """A person who can sign in at the simulator's /authorize form (OpenID Connect test users)."""

    email: str
    display_name: str
    oid: str


@dataclass(frozen=True)
class SimTenant:
    id: str
    display_name: str
    verified_domains: tuple[SimDomain, ...]
    apps: tuple[SimApp, ...] = ()
    country_letter_code: str = "US"
    intune: SimIntune = SimIntune()
    faults: tuple[FaultSpec, ...] = ()
    token_faults: tuple[FaultSpec, ...] = ()
    discovery: TenantDiscovery = TenantDiscovery()
    token_lifetime: TokenLifetime | None = None
    shapes: Shapes = Shapes()
    users: tuple[SimUser, ...] = ()

    @property
    def default_domain(self) -> str:
        return next(d.name for d in self.verified_domains if d.is_default)

    def app(self, client_id: str) -> SimApp | None:
        wanted = client_id.strip().lower()
        return next((a for a in self.apps if a.client_id == wanted), None)


@dataclass(frozen=True)
class ConnectionSeed:
    """What `atlas demo` needs to create a provider connection against the simulator."""

    display_name: str
    entra_tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    tenants: tuple[SimTenant, ...]
    description: str = ""
    seed: int = 0
    page_sizes: Mapping[str, int] = field(default_factory=lambda: dict(PAGE_SIZES))
    faults: tuple[FaultSpec, ...] = ()
    token_faults: tuple[FaultSpec, ...] = ()
    rate_limits: RateLimits | None = None

    def tenant(self, ref: str) -> SimTenant | None:
        """Resolve a tenant by id or by any verified domain, case-insensitively, as Entra does."""
        wanted = ref.strip().lower()
        for tenant in self.tenants:
            if tenant.id == wanted or any(d.name.lower() == wanted for d in tenant.verified_domains):
                return tenant
        return None

    def connection_seeds(self) -> Iterator[ConnectionSeed]:
        """One seed per app that has a secret: its first secret, expired or not (the demo shows both)."""
        for tenant in self.tenants:
            for app in tenant.apps:
                if not app.secrets:
                    continue
                secret = app.secrets[0]
                yield ConnectionSeed(
                    display_name=tenant.display_name if len(tenant.apps) == 1
                    else f"{tenant.display_name} ({app.display_name})",
                    entra_tenant_id=tenant.id,
                    client_id=app.client_id,
                    client_secret=secret.value,
                    note="client secret expired" if secret.expired else "",
                )


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load a scenario file; without a path, the bundled demo scenario."""
    source = Path(path) if path is not None else DEMO_SCENARIO_PATH
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read the scenario ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML ({exc.__class__.__name__})") from None
    return parse_scenario(data, source=str(source))


def parse_scenario(data: object, *, source: str = "<scenario>") -> Scenario:
    # Imported here: token_faults builds on this module's FaultSpec and validators.
    from atlas_sim.token_faults import parse_token_faults

    root = _mapping(data, source, required={"tenants"},
                    optional={"name", "description", "seed", "page_sizes", "faults", "token_faults",
                              "rate_limits"})
    tenants = tuple(_tenant(t, f"{source}: tenants[{i}]") for i, t in enumerate(_list(root["tenants"], "tenants")))
    _unique([t.id for t in tenants], f"{source}: tenant id")
    _unique([d.name.lower() for t in tenants for d in t.verified_domains], f"{source}: verified domain")
    return Scenario(name=_str(root.get("name", "scenario"), "name"), tenants=tenants,
                    description=_str(root.get("description", ""), "description", allow_empty=True),
                    seed=_int(root.get("seed", 0), f"{source}: seed", minimum=0),
                    page_sizes=_page_sizes(root.get("page_sizes", {}), f"{source}: page_sizes"),
                    faults=parse_faults(root.get("faults", []), f"{source}: faults"),
                    token_faults=parse_token_faults(root.get("token_faults", []), f"{source}: token_faults"),
                    rate_limits=parse_rate_limits(root.get("rate_limits"), f"{source}: rate_limits"))


def parse_faults(data: object, where: str = "faults") -> tuple[FaultSpec, ...]:
    """Fault rules from their YAML/dict form (also what tests pass to ``RunningSimulator.faults``)."""
    return tuple(_fault(f, f"{where}[{i}]") for i, f in enumerate(_list(data, where)))


def _page_sizes(data: object, where: str) -> dict[str, int]:
    raw = _mapping(data, where, required=set(), optional=set(PAGE_SIZES))
    sizes = dict(PAGE_SIZES)
    for name, value in raw.items():
        sizes[name] = _int(value, f"{where}.{name}", minimum=1, maximum=MAX_TOP[name])
    return sizes


def _tenant(data: object, where: str) -> SimTenant:
    from atlas_sim.token_faults import parse_discovery, parse_token_faults  # see parse_scenario

    raw = _mapping(data, where, required={"id", "display_name", "verified_domains"},
                   optional={"apps", "country_letter_code", "intune", "faults", "token_faults", "discovery",
                             "token_lifetime", "shapes", "users"})
    domains = _domains(_list(raw["verified_domains"], f"{where}.verified_domains"), f"{where}.verified_domains")
    apps = tuple(_app(a, f"{where}.apps[{i}]") for i, a in enumerate(_list(raw.get("apps", []), f"{where}.apps")))
    _unique([a.client_id for a in apps], f"{where}: client id")
    return SimTenant(
        id=_guid(raw["id"], f"{where}.id"),
        display_name=_str(raw["display_name"], f"{where}.display_name"),
        verified_domains=domains,
        apps=apps,
        country_letter_code=_str(raw.get("country_letter_code", "US"), f"{where}.country_letter_code"),
        intune=_intune(raw.get("intune", {}), f"{where}.intune"),
        faults=parse_faults(raw.get("faults", []), f"{where}.faults"),
        token_faults=parse_token_faults(raw.get("token_faults", []), f"{where}.token_faults"),
        discovery=parse_discovery(raw.get("discovery", {}), f"{where}.discovery"),
        token_lifetime=parse_token_lifetime(raw.get("token_lifetime"), f"{where}.token_lifetime"),
        shapes=parse_shapes(raw.get("shapes"), f"{where}.shapes"),
        users=tuple(_user(u, f"{where}.users[{i}]") for i, u in enumerate(_list(raw.get("users", []),
                                                                                   f"{where}.users"))),
    )


def _user(data: object, where: str) -> SimUser:
    raw = _mapping(data, where, required={"email"}, optional={"display_name", "oid"})
    email = _str(raw["email"], f"{where}.email").strip().lower()
    # Deterministic when omitted: the same scenario always gives a person the same immutable object id.
    oid = _guid(raw["oid"], f"{where}.oid") if "oid" in raw else str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                                 f"atlas-sim:user:{email}"))
    return SimUser(email=email, display_name=_str(raw.get("display_name", email), f"{where}.display_name"),
                   oid=oid)


def _intune(data: object, where: str) -> SimIntune:
    raw = _mapping(data, where, required=set(),
                   optional={"licensed", "unlicensed_answer", "devices", "configurations", "compliance_policies",
                             "mobile_apps"})
    return SimIntune(
        licensed=_bool(raw.get("licensed", True), f"{where}.licensed"),
        unlicensed_answer=fields.choice(raw.get("unlicensed_answer", "bad_request"), f"{where}.unlicensed_answer",
                                        UNLICENSED_ANSWERS),
        devices=_devices(raw.get("devices", 0), f"{where}.devices"),
        configurations=_int(raw.get("configurations", 0), f"{where}.configurations", minimum=0, maximum=100_000),
        compliance_policies=_int(raw.get("compliance_policies", 0), f"{where}.compliance_policies", minimum=0,
                                 maximum=100_000),
        mobile_apps=_int(raw.get("mobile_apps", 0), f"{where}.mobile_apps", minimum=0, maximum=100_000),
    )


def _devices(data: object, where: str) -> DeviceSpec:
    if isinstance(data, int) and not isinstance(data, bool):
        return DeviceSpec(count=_int(data, where, minimum=0, maximum=MAX_DEVICES))
    raw = _mapping(data, where, required={"count"},
                   optional={"operating_systems", "compliance", "ownership", "encrypted_percent"})
    default = DeviceSpec()
    return DeviceSpec(
        count=_int(raw["count"], f"{where}.count", minimum=0, maximum=MAX_DEVICES),
        operating_systems=_weights(raw.get("operating_systems"), f"{where}.operating_systems", OPERATING_SYSTEMS,
                                   default.operating_systems),
        compliance=_weights(raw.get("compliance"), f"{where}.compliance", COMPLIANCE_STATES, default.compliance),
        ownership=_weights(raw.get("ownership"), f"{where}.ownership", OWNER_TYPES, default.ownership),
        encrypted_percent=_number(raw.get("encrypted_percent", default.encrypted_percent),
                                  f"{where}.encrypted_percent", minimum=0, maximum=100),
    )


def _weights(data: object, where: str, allowed: tuple[str, ...],
             default: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    if data is None:
        return default
    raw = _mapping(data, where, required=set(), optional=set(allowed))
    weights = tuple((str(name), _number(value, f"{where}.{name}", minimum=0)) for name, value in raw.items())
    if not weights or sum(w for _, w in weights) <= 0:
        raise ScenarioError(f"{where}: give at least one positive weight, among {', '.join(allowed)}")
    return weights


def _fault(data: object, where: str) -> FaultSpec:
    raw = _mapping(data, where, required={"kind"},
                   optional={"paths", "every", "rate", "after", "count", "retry_after", "status", "seconds", "host",
                             "drop", "odata_count"})
    kind = raw["kind"]
    if kind not in FAULT_KINDS:
        raise ScenarioError(f"{where}.kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    if "every" in raw and "rate" in raw:
        raise ScenarioError(f"{where}: give either every or rate, not both")
    kind_fields = {"retry_after": {"throttle", "server_error"}, "status": {"server_error"}, "seconds": {"slow"},
                   "host": {"foreign_next_link"}, "drop": {"truncate_listing"},
                   "odata_count": {"truncate_listing"}}
    for name, kinds in kind_fields.items():
        if name in raw and kind not in kinds:
            raise ScenarioError(f"{where}: {name} does not apply to kind {kind}")
    paths = tuple(_str(p, f"{where}.paths") for p in _list(raw.get("paths", []), f"{where}.paths"))
    if any(not p.startswith("/") for p in paths):
        raise ScenarioError(f"{where}.paths: give paths after /v1.0 starting with '/', like /deviceManagement")
    status = _int(raw.get("status", 503), f"{where}.status")
    if status not in (500, 502, 503, 504):
        raise ScenarioError(f"{where}.status: expected 500, 502, 503 or 504")
    retry_after = raw.get("retry_after")
    return FaultSpec(
        kind=kind,
        paths=paths,
        every=_int(raw["every"], f"{where}.every", minimum=1) if "every" in raw else None,
        rate=_number(raw["rate"], f"{where}.rate", minimum=0, maximum=1) if "rate" in raw else None,
        after=_int(raw.get("after", 0), f"{where}.after", minimum=0),
        count=_int(raw["count"], f"{where}.count", minimum=0) if raw.get("count") is not None else None,
        retry_after=_number(retry_after, f"{where}.retry_after", minimum=0) if retry_after is not None else None,
        status=status,
        seconds=_number(raw.get("seconds", 0.0), f"{where}.seconds", minimum=0, maximum=600),
        host=_str(raw.get("host", "graph.evil.invalid"), f"{where}.host"),
        drop=_int(raw.get("drop", 0), f"{where}.drop", minimum=0),
        odata_count=_bool(raw.get("odata_count", True), f"{where}.odata_count"),
    )


def _domains(items: list[object], where: str) -> tuple[SimDomain, ...]:
    if not items:
        raise ScenarioError(f"{where}: at least one verified domain is required")
    parsed = []
    for i, item in enumerate(items):
        raw = _mapping(item, f"{where}[{i}]", required={"name"}, optional={"default"})
        parsed.append((_str(raw["name"], f"{where}[{i}].name"), _bool(raw.get("default", False), f"{where}[{i}]")))
    names = [name for name, _ in parsed]
    defaults = [name for name, is_default in parsed if is_default]
    if len(defaults) > 1:
        raise ScenarioError(f"{where}: only one domain can be the default, not {', '.join(defaults)}")
    default = defaults[0] if defaults else names[0]
    initial = next((n for n in names if n.lower().endswith(".onmicrosoft.com")), names[0])
    return tuple(SimDomain(name=n, is_default=n == default, is_initial=n == initial) for n in names)


def _app(data: object, where: str) -> SimApp:
    raw = _mapping(data, where, required={"client_id", "display_name"},
                   optional={"secrets", "permissions", "certificates", "pending_permissions", "registered_here",
                             "consent_lag"})
    secrets = tuple(_secret(s, f"{where}.secrets[{i}]") for i, s in enumerate(_list(raw.get("secrets", []),
                                                                                     f"{where}.secrets")))
    permissions = [_str(p, f"{where}.permissions") for p in _list(raw.get("permissions", []), f"{where}.permissions")]
    pending = [_str(p, f"{where}.pending_permissions")
               for p in _list(raw.get("pending_permissions", []), f"{where}.pending_permissions")]
    return SimApp(
        client_id=_guid(raw["client_id"], f"{where}.client_id"),
        display_name=_str(raw["display_name"], f"{where}.display_name"),
        secrets=secrets,
        permissions=frozenset(permissions),
        certificates=tuple(_str(c, f"{where}.certificates") for c in _list(raw.get("certificates", []),
                                                                           f"{where}.certificates")),
        pending_permissions=frozenset(pending) - frozenset(permissions),
        registered_here=_bool(raw.get("registered_here", True), f"{where}.registered_here"),
        consent_lag=parse_consent_lag(raw.get("consent_lag"), f"{where}.consent_lag", frozenset(permissions)),
    )


def _secret(data: object, where: str) -> SimSecret:
    raw = _mapping(data, where, required={"value"}, optional={"id", "expired", "expires_in_days", "display_name"})
    value = _str(raw["value"], f"{where}.value")
    expired = _bool(raw.get("expired", False), f"{where}.expired")
    # Deterministic when omitted, so the same scenario always shows the same Secret ID.
    secret_id = _guid(raw["id"], f"{where}.id") if "id" in raw else str(uuid.uuid5(uuid.NAMESPACE_URL, where))
    days = _int(raw.get("expires_in_days", -10 if expired else 365), f"{where}.expires_in_days", minimum=-3650,
                maximum=36500)
    if expired != (days < 0):
        raise ScenarioError(f"{where}: expires_in_days must be negative exactly when the secret is expired")
    return SimSecret(value=value, secret_id=secret_id, expired=expired, expires_in_days=days,
                     display_name=_str(raw.get("display_name", "Atlas"), f"{where}.display_name"))

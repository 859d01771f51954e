"""Scenario files: the Entra tenants, app registrations and credentials the simulator pretends to host.

Format (YAML, snake_case keys; unknown keys are refused so typos fail loudly)::

    name: demo
    description: free text
    tenants:
      - id: <GUID>                        # the Entra tenant id (Directory ID)
        display_name: Contoso
        country_letter_code: US           # optional
        verified_domains:                 # at least one; first *.onmicrosoft.com is the initial domain
          - name: contoso.onmicrosoft.com
          - name: contoso.example
            default: true                 # optional; else the first domain is the default
        apps:
          - client_id: <GUID>
            display_name: Atlas
            permissions: [Organization.Read.All]    # granted + consented Graph application permissions
            secrets:
              - value: "demo-..."
                id: <GUID>                # optional: the "Secret ID" Entra shows beside the value
                expired: false            # optional

Later issues extend the dataclasses (device counts, faults); keep every new field optional.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEMO_SCENARIO_PATH = Path(__file__).with_name("scenarios") / "demo.yaml"


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the offending field."""


@dataclass(frozen=True)
class SimDomain:
    name: str
    is_default: bool = False
    is_initial: bool = False


@dataclass(frozen=True)
class SimSecret:
    value: str
    secret_id: str
    expired: bool = False


@dataclass(frozen=True)
class SimApp:
    client_id: str
    display_name: str
    secrets: tuple[SimSecret, ...] = ()
    permissions: frozenset[str] = frozenset()

    def secret_matching(self, value: str) -> SimSecret | None:
        return next((s for s in self.secrets if s.value == value), None)

    @property
    def service_principal_id(self) -> str:
        # Stable per app so repeated runs see the same object id, as Entra would.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:sp:{self.client_id}"))


@dataclass(frozen=True)
class SimTenant:
    id: str
    display_name: str
    verified_domains: tuple[SimDomain, ...]
    apps: tuple[SimApp, ...] = ()
    country_letter_code: str = "US"

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
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML ({exc.__class__.__name__})") from None
    return parse_scenario(data, source=str(source))


def parse_scenario(data: object, *, source: str = "<scenario>") -> Scenario:
    root = _mapping(data, source, required={"tenants"}, optional={"name", "description"})
    tenants = tuple(_tenant(t, f"{source}: tenants[{i}]") for i, t in enumerate(_list(root["tenants"], "tenants")))
    _unique([t.id for t in tenants], f"{source}: tenant id")
    _unique([d.name.lower() for t in tenants for d in t.verified_domains], f"{source}: verified domain")
    return Scenario(name=_str(root.get("name", "scenario"), "name"), tenants=tenants,
                    description=_str(root.get("description", ""), "description", allow_empty=True))


def _tenant(data: object, where: str) -> SimTenant:
    raw = _mapping(data, where, required={"id", "display_name", "verified_domains"},
                   optional={"apps", "country_letter_code"})
    domains = _domains(_list(raw["verified_domains"], f"{where}.verified_domains"), f"{where}.verified_domains")
    apps = tuple(_app(a, f"{where}.apps[{i}]") for i, a in enumerate(_list(raw.get("apps", []), f"{where}.apps")))
    _unique([a.client_id for a in apps], f"{where}: client id")
    return SimTenant(
        id=_guid(raw["id"], f"{where}.id"),
        display_name=_str(raw["display_name"], f"{where}.display_name"),
        verified_domains=domains,
        apps=apps,
        country_letter_code=_str(raw.get("country_letter_code", "US"), f"{where}.country_letter_code"),
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
    raw = _mapping(data, where, required={"client_id", "display_name"}, optional={"secrets", "permissions"})
    secrets = tuple(_secret(s, f"{where}.secrets[{i}]") for i, s in enumerate(_list(raw.get("secrets", []),
                                                                                     f"{where}.secrets")))
    permissions = [_str(p, f"{where}.permissions") for p in _list(raw.get("permissions", []), f"{where}.permissions")]
    return SimApp(
        client_id=_guid(raw["client_id"], f"{where}.client_id"),
        display_name=_str(raw["display_name"], f"{where}.display_name"),
        secrets=secrets,
        permissions=frozenset(permissions),
    )


def _secret(data: object, where: str) -> SimSecret:
    raw = _mapping(data, where, required={"value"}, optional={"id", "expired"})
    value = _str(raw["value"], f"{where}.value")
    # Deterministic when omitted, so the same scenario always shows the same Secret ID.
    secret_id = _guid(raw["id"], f"{where}.id") if "id" in raw else str(uuid.uuid5(uuid.NAMESPACE_URL, where))
    return SimSecret(value=value, secret_id=secret_id, expired=_bool(raw.get("expired", False), f"{where}.expired"))


def _mapping(data: object, where: str, *, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = sorted(set(map(str, data)) - required - optional)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(required - set(data))
    if missing:
        raise ScenarioError(f"{where}: missing field(s) {', '.join(missing)}")
    return data


def _list(data: object, where: str) -> list[object]:
    if not isinstance(data, list):
        raise ScenarioError(f"{where}: expected a list")
    return data


def _str(data: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(data, str) or (not allow_empty and not data.strip()):
        raise ScenarioError(f"{where}: expected a non-empty string")
    return data


def _bool(data: object, where: str) -> bool:
    if not isinstance(data, bool):
        raise ScenarioError(f"{where}: expected true or false")
    return data


def _guid(data: object, where: str) -> str:
    try:
        return str(uuid.UUID(str(data)))
    except ValueError:
        raise ScenarioError(f"{where}: expected a GUID") from None


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ScenarioError(f"{what} '{value}' appears more than once")
        seen.add(value)

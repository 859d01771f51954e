"""Graph contracts: every Microsoft Graph request Atlas may make, declared in graph_contracts.yaml.

The file is validated when loaded, so a typo or a write method fails at start-up with a message naming the
contract and field, not later inside a job.

Path grammar (one segment at a time)::

    name                      an entity set, singleton or navigation property: deviceManagement, managedDevices
    {param} / {param:guid}    a key filled by the caller; ``:guid`` makes the client refuse anything but a GUID
    name(prop='{param}')      an alternate key, e.g. servicePrincipals(appId='{appId:guid}')
    name(prop='literal')      an alternate key with a fixed value (letters, digits and dashes)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from atlas_services.runs.types import GRAPH_CAPABILITIES
from atlas_services.validation import GUID

_PACKAGE_DIR = Path(__file__).resolve().parent
# The repository root in a checkout; the package directory when installed with the file as package data.
_DEFAULT_PATHS = (_PACKAGE_DIR.parents[1] / "graph_contracts.yaml", _PACKAGE_DIR.parent / "graph_contracts.yaml")

FIELDS = ("key", "method", "path", "version", "select", "permissions", "paging", "throttle_class", "capabilities")
VERSIONS = frozenset({"v1.0"})
# v1 contracts are read-only; writes need their own review and a new method here.
METHODS = frozenset({"GET"})
CAPABILITIES = frozenset(GRAPH_CAPABILITIES)
PARAM_KINDS = frozenset({"guid", "string"})


@dataclass(frozen=True)
class ThrottleClass:
    """Graph's per-app-per-tenant limit for a family of calls, and the request budget Atlas derives from it."""

    name: str
    limit: int
    window_seconds: float
    source: str

    @property
    def rate_per_second(self) -> float:
        # 80 % of the limit as the sustained rate plus a burst of 10 %: a token bucket with capacity C and rate r
        # admits at most C + r*T requests in any window T, here 90 % of the limit. The last 10 % is headroom for
        # what the bucket cannot see: requests still in Graph's window from before it existed (a restarted
        # worker) and network jitter that bunches requests up on arrival.
        return 0.8 * self.limit / self.window_seconds

    @property
    def burst(self) -> float:
        return max(1.0, 0.1 * self.limit)


# Per app, per Entra tenant, per 20 s (reference/graph-facts.md §3, "tenant-all-apps / per-app-per-tenant"; the
# per-app figures are used). Graph meters identity calls in resource units, not requests, and publishes no
# request count for them; the directory class is Atlas's conservative choice, far above what a health check needs.
THROTTLE_CLASSES: dict[str, ThrottleClass] = {
    tc.name: tc for tc in (
        ThrottleClass("directory", 1000, 20.0, "Atlas's choice; Graph meters identity calls in resource units"),
        ThrottleClass("intune_devices", 2000, 20.0, "Intune devices (managedDevice, managedDeviceOverview)"),
        ThrottleClass("intune_configuration", 1000, 20.0,
                      "Intune device configuration (deviceConfiguration, deviceCompliancePolicy, "
                      "deviceCompliancePolicyDeviceStateSummary)"),
        ThrottleClass("intune_apps", 1000, 20.0, "Intune applications (mobileApp)"),
    )
}
# Graph's global limit: per app, across every tenant, whatever the call (reference/graph-facts.md §3).
GLOBAL_PER_APP = ThrottleClass("global_per_app", 130_000, 10.0, "Graph's global limit per app, all tenants")

_KEY = re.compile(r"^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9_]*)+$")
_NAME = r"[A-Za-z][A-Za-z0-9.]*"
_PARAM = r"\{(?P<param>[a-z][A-Za-z0-9_]*)(?::(?P<kind>[a-z]+))?\}"
_KEY_SEGMENT = re.compile(rf"^{_PARAM}$")
_NAME_SEGMENT = re.compile(rf"^{_NAME}$")
_ALT_KEY_SEGMENT = re.compile(
    rf"^(?P<name>{_NAME})\((?P<prop>[a-z][A-Za-z0-9]*)='(?:{_PARAM}|(?P<literal>[A-Za-z0-9-]+))'\)$")
_ANY_PARAM = re.compile(_PARAM)
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_PERMISSION = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")


class ContractError(ValueError):
    """A contract file is invalid, or code asked for a contract, field or parameter the file does not allow."""


@dataclass(frozen=True)
class PathParam:
    name: str
    kind: str  # "guid" or "string"


@dataclass(frozen=True)
class Contract:
    key: str
    method: str
    path: str
    version: str
    select: tuple[str, ...]
    permissions: tuple[str, ...]
    paging: bool
    throttle_class: str
    capabilities: tuple[str, ...]

    @property
    def params(self) -> tuple[PathParam, ...]:
        return tuple(PathParam(m.group("param"), m.group("kind") or "string") for m in _ANY_PARAM.finditer(self.path))

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def graph_path(self) -> str:
        """The path with ``{name:kind}`` shortened to ``{name}``, as Graph's documentation writes it."""
        return _ANY_PARAM.sub(lambda m: "{" + m.group("param") + "}", self.path)

    @property
    def throttle(self) -> ThrottleClass:
        return THROTTLE_CLASSES[self.throttle_class]

    def render_path(self, values: Mapping[str, str] | None) -> str:
        """The request path (under /{version}) with every parameter validated and URL-encoded.

        Raises ContractError naming the parameter, never echoing its value (it comes from outside).
        """
        given = dict(values or {})
        expected = self.path_params
        if set(given) != set(expected):
            raise ContractError(f"contract '{self.key}' needs path parameters {list(expected)}, got {sorted(given)}")
        rendered: dict[str, str] = {}
        for param in self.params:
            value = given[param.name]
            if not isinstance(value, str) or not value.strip():
                raise ContractError(f"contract '{self.key}': path parameter '{param.name}' must be a non-empty string")
            if param.kind == "guid":
                if not GUID.match(value.strip()):
                    raise ContractError(f"contract '{self.key}': path parameter '{param.name}' must be a GUID "
                                        "like 00000000-0000-0000-0000-000000000000")
                value = str(uuid.UUID(value.strip()))
            # Inside an alternate key a quote must be doubled (OData literal); quote() then encodes it.
            rendered[param.name] = quote(value.replace("'", "''"), safe="")
        return _ANY_PARAM.sub(lambda m: rendered[m.group("param")], self.path)


class ContractSet(Mapping[str, Contract]):
    def __init__(self, contracts: Mapping[str, Contract], source: str) -> None:
        self._contracts = dict(contracts)
        self.source = source

    def __getitem__(self, key: str) -> Contract:
        try:
            return self._contracts[key]
        except KeyError:
            raise ContractError(f"no Graph contract named '{key}' in {self.source}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)

    def for_capability(self, capability: str) -> list[Contract]:
        return [c for c in self._contracts.values() if capability in c.capabilities]

    def required_permissions(self, capability: str) -> dict[str, tuple[str, ...]]:
        """Contract key -> the application permissions any one of which grants it, for one capability."""
        return {c.key: c.permissions for c in self.for_capability(capability)}


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate mapping keys, which plain YAML loading silently resolves to the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ContractError(f"duplicate field '{key}' (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def default_contracts_path() -> Path:
    return next((p for p in _DEFAULT_PATHS if p.exists()), _DEFAULT_PATHS[0])


def load_contracts(path: str | Path | None = None) -> ContractSet:
    """The validated contracts from ``path`` (default: graph_contracts.yaml), cached per file."""
    return _load(Path(path).resolve() if path is not None else default_contracts_path())


@lru_cache(maxsize=8)
def _load(path: Path) -> ContractSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read the contract file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except ContractError as exc:
        raise ContractError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML ({exc})") from None
    return parse_contracts(data, source=str(path))


def parse_contracts(data: object, *, source: str = "<contracts>") -> ContractSet:
    if not isinstance(data, Mapping) or set(data) - {"contracts"} or not isinstance(data.get("contracts"), list):
        raise ContractError(f"{source}: expected a mapping with a single 'contracts' list")
    contracts: dict[str, Contract] = {}
    for index, item in enumerate(data["contracts"]):
        contract = _parse_one(item, f"{source}: contracts[{index}]")
        if contract.key in contracts:
            raise ContractError(f"{source}: contract key '{contract.key}' is declared more than once")
        contracts[contract.key] = contract
    if not contracts:
        raise ContractError(f"{source}: declares no contracts")
    return ContractSet(contracts, source)


def _parse_one(item: object, where: str) -> Contract:
    if not isinstance(item, Mapping):
        raise ContractError(f"{where}: expected a mapping")
    if isinstance(item.get("key"), str):
        where = f"{where} ('{item['key']}')"
    unknown = sorted(str(k) for k in item if k not in FIELDS)
    if unknown:
        raise ContractError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in item]
    if missing:
        raise ContractError(f"{where}: missing field(s) {', '.join(missing)}")
    key = _matching(item["key"], _KEY, f"{where}: key", "dotted lower-camel words, e.g. organization.list")
    method = item["method"]
    if method not in METHODS:
        raise ContractError(f"{where}: method {method!r} is not allowed; contracts are read-only (GET)")
    version = item["version"]
    if version not in VERSIONS:
        raise ContractError(f"{where}: version {version!r} is not allowed; expected one of {sorted(VERSIONS)}")
    paging = item["paging"]
    if not isinstance(paging, bool):
        raise ContractError(f"{where}: paging must be true or false")
    throttle_class = item["throttle_class"]
    if not isinstance(throttle_class, str) or throttle_class not in THROTTLE_CLASSES:
        raise ContractError(f"{where}: throttle_class {throttle_class!r} is not one of {sorted(THROTTLE_CLASSES)}")
    capabilities = _names(item["capabilities"], f"{where}: capabilities", allow_empty=False)
    unknown_caps = sorted(set(capabilities) - CAPABILITIES)
    if unknown_caps:
        raise ContractError(f"{where}: unknown capabilities {unknown_caps}; expected some of {sorted(CAPABILITIES)}")
    return Contract(
        key=key,
        method=method,
        path=_path(item["path"], f"{where}: path"),
        version=version,
        select=tuple(_matching(f, _PROPERTY, f"{where}: select", "property names")
                     for f in _names(item["select"], f"{where}: select", allow_empty=True)),
        permissions=tuple(_matching(p, _PERMISSION, f"{where}: permissions", "names like Organization.Read.All")
                          for p in _names(item["permissions"], f"{where}: permissions", allow_empty=False)),
        paging=paging,
        throttle_class=throttle_class,
        capabilities=capabilities,
    )


def _path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "?" in value or "//" in value:
        raise ContractError(f"{where}: expected an absolute path like /organization, without a query string")
    segments = value[1:].split("/")
    bad = [s for s in segments
           if not (_NAME_SEGMENT.match(s) or _KEY_SEGMENT.match(s) or _ALT_KEY_SEGMENT.match(s))]
    if bad:
        raise ContractError(f"{where}: invalid segment(s) {bad}; use names, {{placeholders}} or "
                            "name(property='{placeholder}')")
    params = [(m.group("param"), m.group("kind")) for m in _ANY_PARAM.finditer(value)]
    names = [name for name, _ in params]
    if len(names) != len(set(names)):
        raise ContractError(f"{where}: a placeholder appears more than once")
    bad_kinds = sorted({kind for _, kind in params if kind is not None and kind not in PARAM_KINDS})
    if bad_kinds:
        raise ContractError(f"{where}: unknown placeholder type(s) {bad_kinds}; expected one of {sorted(PARAM_KINDS)}")
    return value


def _names(value: object, where: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ContractError(f"{where}: expected a list of strings")
    if not value and not allow_empty:
        raise ContractError(f"{where}: must not be empty")
    if len(value) != len(set(value)):
        raise ContractError(f"{where}: lists a value more than once")
    return tuple(value)


def _matching(value: object, pattern: re.Pattern[str], where: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ContractError(f"{where}: {value!r} is not valid; expected {expected}")
    return value

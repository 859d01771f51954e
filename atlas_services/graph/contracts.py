"""Graph contracts: every Microsoft Graph request Atlas may make, declared in graph_contracts.yaml.

The file is validated when loaded, so a typo or a write method fails at start-up with a message naming the
contract and field, not later inside a job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE_DIR = Path(__file__).resolve().parent
# The repository root in a checkout; the package directory when installed with the file as package data.
_DEFAULT_PATHS = (_PACKAGE_DIR.parents[1] / "graph_contracts.yaml", _PACKAGE_DIR.parent / "graph_contracts.yaml")

FIELDS = ("key", "method", "path", "version", "select", "permissions", "paging", "throttle_class", "capabilities")
VERSIONS = frozenset({"v1.0"})
# v1 contracts are read-only; writes need their own review and a new method here.
METHODS = frozenset({"GET"})
# Graph's throttling buckets that matter to Atlas (reference/graph-facts.md §3).
THROTTLE_CLASSES = frozenset({"directory", "intune_devices", "intune_configuration", "intune_apps"})
CAPABILITIES = frozenset({"health_check", "inventory_sync", "compliance_snapshot"})

_KEY = re.compile(r"^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9_]*)+$")
_SEGMENT = re.compile(r"^([A-Za-z][A-Za-z0-9.]*|\{[a-z][A-Za-z0-9_]*\})$")
_PLACEHOLDER = re.compile(r"\{([a-z][A-Za-z0-9_]*)\}")
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_PERMISSION = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")


class ContractError(ValueError):
    """A contract file is invalid, or code asked for a contract or field the file does not declare."""


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
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))


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
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
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
    if throttle_class not in THROTTLE_CLASSES:
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
    bad = [s for s in value[1:].split("/") if not _SEGMENT.match(s)]
    if bad:
        raise ContractError(f"{where}: invalid segment(s) {bad}; use names or {{placeholders}}")
    placeholders = _PLACEHOLDER.findall(value)
    if len(placeholders) != len(set(placeholders)):
        raise ContractError(f"{where}: a placeholder appears more than once")
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

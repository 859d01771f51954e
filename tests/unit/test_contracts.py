"""graph_contracts.yaml: bad files are refused with a clear message; the real file matches Graph's v1.0 schema."""

from __future__ import annotations

import os
import textwrap
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import pytest

from atlas_services.graph.contracts import ContractError, load_contracts

ROOT = Path(__file__).resolve().parents[2]
CSDL = Path(os.environ.get("ATLAS_GRAPH_CSDL", ROOT.parent / "shared" / "graph" / "v1.0-Prod.csdl"))

GOOD = """\
contracts:
  - key: organization.list
    method: GET
    path: /organization
    version: v1.0
    select: [id, displayName]
    permissions: [Organization.Read.All]
    paging: false
    throttle_class: directory
    capabilities: [health_check]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contracts.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ContractError) as caught:
        load_contracts(_write(tmp_path, text))
    return str(caught.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    contracts = load_contracts(_write(tmp_path, GOOD))
    contract = contracts["organization.list"]
    assert contract.select == ("id", "displayName")
    assert contract.permissions == ("Organization.Read.All",)
    assert contracts.for_capability("health_check") == [contract]


def test_the_project_file_loads_and_declares_the_health_check() -> None:
    contracts = load_contracts()
    assert contracts["organization.list"].path == "/organization"
    assert {"id", "displayName", "verifiedDomains"} <= set(contracts["organization.list"].select)
    assert load_contracts() is contracts  # cached


def test_an_unknown_contract_key_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="no Graph contract named 'users.list'"):
        load_contracts()["users.list"]


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    paging: false\n", "    paging: false\n    pagin: true\n"))
    assert "organization.list" in message and "unknown field(s) pagin" in message


def test_a_missing_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    throttle_class: directory\n", ""))
    assert "missing field(s) throttle_class" in message


def test_a_duplicate_contract_key_is_refused(tmp_path: Path) -> None:
    body = GOOD.split("\n", 1)[1]
    message = _refused(tmp_path, GOOD + body)
    assert "'organization.list' is declared more than once" in message


def test_a_duplicate_yaml_field_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("    path: /organization\n",
                                              "    path: /organization\n    path: /users\n"))
    assert "duplicate field 'path'" in message


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "get"])
def test_anything_but_get_is_refused(tmp_path: Path, method: str) -> None:
    message = _refused(tmp_path, GOOD.replace("method: GET", f"method: {method}"))
    assert "read-only (GET)" in message and repr(method) in message


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("path: /organization", "path: organization", "absolute path"),
    ("path: /organization", "path: /organization?$top=1", "without a query string"),
    ("path: /organization", "path: /organization/{id", "invalid segment"),
    ("version: v1.0", "version: beta", "version 'beta' is not allowed"),
    ("select: [id, displayName]", "select: [id, display-name]", "'display-name' is not valid"),
    ("select: [id, displayName]", "select: [id, id]", "more than once"),
    ("permissions: [Organization.Read.All]", "permissions: []", "must not be empty"),
    ("permissions: [Organization.Read.All]", "permissions: [read everything]", "is not valid"),
    ("paging: false", "paging: 'no'", "paging must be true or false"),
    ("throttle_class: directory", "throttle_class: fast", "throttle_class 'fast'"),
    ("capabilities: [health_check]", "capabilities: [mind_reading]", "unknown capabilities"),
    ("key: organization.list", "key: Organization", "key: 'Organization' is not valid"),
])
def test_invalid_values_are_refused(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in _refused(tmp_path, GOOD.replace(old, new))


@pytest.mark.parametrize("text", ["contracts: {}\n", "- key: x\n", "contracts: []\n", "other: 1\ncontracts: []\n"])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str) -> None:
    _refused(tmp_path, text)


def test_invalid_yaml_is_refused(tmp_path: Path) -> None:
    assert "not valid YAML" in _refused(tmp_path, "contracts: [\n")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read"):
        load_contracts(tmp_path / "absent.yaml")


# -- the real file against Microsoft's published v1.0 schema ---------------------------------------------------------

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@lru_cache(maxsize=1)
def _schema() -> tuple[dict[str, tuple[str | None, set[str], dict[str, str]]], dict[str, str]]:
    """Entity types (qualified name -> base type, property names, navigation name -> type) and the container's
    entity sets and singletons (name -> type)."""
    root = ET.parse(CSDL).getroot()
    types: dict[str, tuple[str | None, set[str], dict[str, str]]] = {}
    roots: dict[str, str] = {}
    for schema in root.iter(f"{EDM}Schema"):
        namespace = schema.get("Namespace", "")
        for entity in schema.findall(f"{EDM}EntityType"):
            props = {p.get("Name", "") for p in entity.findall(f"{EDM}Property")}
            navs = {n.get("Name", ""): n.get("Type", "") for n in entity.findall(f"{EDM}NavigationProperty")}
            types[f"{namespace}.{entity.get('Name')}"] = (entity.get("BaseType"), props, navs)
        for container in schema.findall(f"{EDM}EntityContainer"):
            for node in [*container.findall(f"{EDM}EntitySet"), *container.findall(f"{EDM}Singleton")]:
                kind = node.get("EntityType") or node.get("Type") or ""
                roots[node.get("Name", "")] = f"Collection({kind})" if node.tag.endswith("EntitySet") else kind
    return types, roots


def _qualified(name: str) -> str:
    return "microsoft.graph." + name[len("graph."):] if name.startswith("graph.") else name


def _members(type_name: str) -> tuple[set[str], dict[str, str]]:
    types, _ = _schema()
    props: set[str] = set()
    navs: dict[str, str] = {}
    current: str | None = _qualified(type_name)
    while current:
        base, own_props, own_navs = types[current]
        props |= own_props
        navs = {**own_navs, **navs}
        current = _qualified(base) if base else None
    return props, navs


def _resolve(path: str) -> str:
    """The entity type a contract path returns (collections unwrapped), or an AssertionError naming the segment."""
    _, roots = _schema()
    segments = path.strip("/").split("/")
    assert segments[0] in roots, f"'{segments[0]}' is not an entity set or singleton in Graph v1.0"
    current = roots[segments[0]]
    for segment in segments[1:]:
        is_collection = current.startswith("Collection(")
        element = current[len("Collection("):-1] if is_collection else current
        if segment.startswith("{"):
            assert is_collection, f"key segment {segment} follows a single entity"
            current = element
            continue
        _, navs = _members(element)
        assert segment in navs, f"'{segment}' is not a navigation property of {element}"
        current = navs[segment]
    return _qualified(current[len("Collection("):-1] if current.startswith("Collection(") else current)


@pytest.mark.skipif(not CSDL.exists(), reason=f"Graph v1.0 CSDL not found at {CSDL}")
@pytest.mark.parametrize("key", sorted(load_contracts()))
def test_contract_paths_and_select_fields_exist_in_graph_v1(key: str) -> None:
    contract = load_contracts()[key]
    entity = _resolve(contract.path)
    props, navs = _members(entity)
    unknown = [field for field in contract.select if field not in props and field not in navs]
    assert not unknown, f"{key}: {unknown} are not properties of {entity} in Graph v1.0"

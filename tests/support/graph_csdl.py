"""Microsoft Graph's published v1.0 schema (CSDL), read for tests: resolve contract paths, list a type's properties,
and check that a JSON entity uses only properties and enum values the schema declares.

The files live outside the project (../shared/graph/v1.0-Prod.csdl, or ATLAS_GRAPH_CSDL, for the global cloud;
v1.0-Fairfax.csdl and v1.0-Mooncake.csdl beside it for the national clouds); tests that need one skip with a
visible reason when it is absent. Every function takes the schema file to use (default: the global one).
"""

from __future__ import annotations

import os
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSDL = Path(os.environ.get("ATLAS_GRAPH_CSDL", ROOT.parent / "shared" / "graph" / "v1.0-Prod.csdl"))
CSDL_DIR = CSDL.parent
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NEEDS_CSDL = pytest.mark.skipif(not CSDL.exists(), reason=f"Graph v1.0 CSDL not found at {CSDL}")
_ALT_KEY = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9.]*)\((?P<prop>[A-Za-z0-9]+)='[^']*'\)$")


@dataclass
class TypeInfo:
    base: str | None
    props: dict[str, str] = field(default_factory=dict)
    navs: dict[str, str] = field(default_factory=dict)
    alternate_keys: set[str] = field(default_factory=set)


@dataclass
class Schema:
    types: dict[str, TypeInfo]
    enums: dict[str, tuple[set[str], bool]]  # members, is flags
    roots: dict[str, str]


def qualified(name: str) -> str:
    if name.startswith("Collection("):
        return f"Collection({qualified(name[len('Collection('):-1])})"
    return "microsoft.graph." + name[len("graph."):] if name.startswith("graph.") else name


@lru_cache(maxsize=4)
def schema(csdl: Path = CSDL) -> Schema:
    root = ET.parse(csdl).getroot()
    types: dict[str, TypeInfo] = {}
    enums: dict[str, tuple[set[str], bool]] = {}
    roots: dict[str, str] = {}
    alternate: list[tuple[str, set[str]]] = []
    for node in root.iter(f"{EDM}Schema"):
        namespace = node.get("Namespace", "")
        for kind in ("EntityType", "ComplexType"):
            for entity in node.findall(f"{EDM}{kind}"):
                name = f"{namespace}.{entity.get('Name')}"
                base = entity.get("BaseType")
                info = TypeInfo(qualified(base) if base else None,
                                {p.get("Name", ""): qualified(p.get("Type", ""))
                                 for p in entity.findall(f"{EDM}Property")},
                                {n.get("Name", ""): qualified(n.get("Type", ""))
                                 for n in entity.findall(f"{EDM}NavigationProperty")})
                info.alternate_keys = _alternate_keys(entity)
                types[name] = info
        for enum in node.findall(f"{EDM}EnumType"):
            enums[f"{namespace}.{enum.get('Name')}"] = ({m.get("Name", "") for m in enum.findall(f"{EDM}Member")},
                                                        enum.get("IsFlags") == "true")
        for container in node.findall(f"{EDM}EntityContainer"):
            for item in [*container.findall(f"{EDM}EntitySet"), *container.findall(f"{EDM}Singleton")]:
                kind_name = qualified(item.get("EntityType") or item.get("Type") or "")
                roots[item.get("Name", "")] = (f"Collection({kind_name})" if item.tag.endswith("EntitySet")
                                               else kind_name)
        for block in node.findall(f"{EDM}Annotations"):
            alternate.append((qualified(block.get("Target", "")), _alternate_keys(block)))
    for target, keys in alternate:
        if target in types:
            types[target].alternate_keys |= keys
    return Schema(types, enums, roots)


def _alternate_keys(node: ET.Element) -> set[str]:
    keys: set[str] = set()
    for annotation in node.findall(f"{EDM}Annotation"):
        if annotation.get("Term") != "Org.OData.Core.V1.AlternateKeys":
            continue
        for value in annotation.iter(f"{EDM}PropertyValue"):
            if value.get("Property") == "Name" and value.get("PropertyPath"):
                keys.add(value.get("PropertyPath", ""))
    return keys


def members(type_name: str, csdl: Path = CSDL) -> tuple[dict[str, str], dict[str, str]]:
    """Properties (name -> type) and navigation properties of a type, inherited ones included."""
    types = schema(csdl).types
    props: dict[str, str] = {}
    navs: dict[str, str] = {}
    current: str | None = qualified(type_name)
    while current:
        info = types[current]
        props = {**info.props, **props}
        navs = {**info.navs, **navs}
        current = info.base
    return props, navs


def derives_from(type_name: str, base: str) -> bool:
    current: str | None = qualified(type_name)
    while current:
        if current == qualified(base):
            return True
        current = schema().types[current].base
    return False


def _element(type_name: str) -> tuple[str, bool]:
    if type_name.startswith("Collection("):
        return type_name[len("Collection("):-1], True
    return type_name, False


def resolve(path: str, csdl: Path = CSDL) -> str:
    """The entity type a contract path returns (collections unwrapped); AssertionError naming a bad segment.

    Understands names, ``{key}`` / ``{key:kind}`` segments and alternate keys ``name(prop='value')``, which must be
    declared as alternate keys of the entity type.
    """
    roots = schema(csdl).roots
    segments = path.strip("/").split("/")
    current = ""
    for index, segment in enumerate(segments):
        alt = _ALT_KEY.match(segment)
        name = alt.group("name") if alt else segment
        if index == 0:
            assert name in roots, f"'{name}' is not an entity set or singleton in Graph v1.0"
            current = roots[name]
        elif segment.startswith("{"):
            element, is_collection = _element(current)
            assert is_collection, f"key segment {segment} follows a single entity"
            current = element
            continue
        else:
            element, _ = _element(current)
            _, navs = members(element, csdl)
            assert name in navs, f"'{name}' is not a navigation property of {element}"
            current = navs[name]
        if alt:
            element, is_collection = _element(current)
            assert is_collection, f"alternate key {segment} follows a single entity"
            keys = schema(csdl).types[element].alternate_keys
            assert alt.group("prop") in keys, f"'{alt.group('prop')}' is not an alternate key of {element} ({keys})"
            current = element
    return _element(current)[0]


def check_entity(entity: Any, type_name: str, where: str = "$") -> list[str]:
    """Problems with ``entity`` as a ``type_name`` (entity or complex type): properties the schema lacks, enum
    values it does not list, and values of the wrong JSON type. Honours ``@odata.type`` for derived types."""
    if entity is None:
        return []
    if not isinstance(entity, dict):
        return [f"{where}: expected an object, got {type(entity).__name__}"]
    problems: list[str] = []
    actual = qualified(type_name)
    annotated = entity.get("@odata.type")
    if isinstance(annotated, str):
        named = annotated.lstrip("#")
        if named not in schema().types:
            return [f"{where}: @odata.type {annotated} is not a type in Graph v1.0"]
        if not derives_from(named, actual):
            return [f"{where}: @odata.type {annotated} does not derive from {actual}"]
        actual = named
    props, navs = members(actual)
    for key, value in entity.items():
        if key.startswith("@"):
            continue
        if key not in props:
            problems.append(f"{where}.{key}: not a property of {actual}" + (" (a navigation property)"
                                                                            if key in navs else ""))
            continue
        problems += _check_value(value, props[key], f"{where}.{key}")
    return problems


def _check_value(value: Any, type_name: str, where: str) -> list[str]:
    if value is None:
        return []
    element, is_collection = _element(type_name)
    if is_collection:
        if not isinstance(value, list):
            return [f"{where}: expected a list for {type_name}"]
        return [p for i, item in enumerate(value) for p in _check_value(item, element, f"{where}[{i}]")]
    s = schema()
    if element in s.enums:
        names, is_flags = s.enums[element]
        given = [v.strip() for v in value.split(",")] if isinstance(value, str) and is_flags else [value]
        bad = [v for v in given if v not in names]
        return [f"{where}: {value!r} is not a member of {element}"] if bad else []
    if element in s.types:
        return check_entity(value, element, where)
    return _check_primitive(value, element, where)


def _check_primitive(value: Any, element: str, where: str) -> list[str]:
    checks: dict[str, type | tuple[type, ...]] = {
        "Edm.String": str, "Edm.Boolean": bool, "Edm.Int32": int, "Edm.Int64": int, "Edm.Int16": int,
        "Edm.Double": (int, float), "Edm.Guid": str, "Edm.DateTimeOffset": str, "Edm.Binary": str,
    }
    expected = checks.get(element)
    if expected is None:
        return []
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return [f"{where}: {value!r} is not an {element}"]
    try:
        if element == "Edm.Guid":
            uuid.UUID(str(value))
        elif element == "Edm.DateTimeOffset":
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return [f"{where}: {value!r} is not an {element}"]
    return []

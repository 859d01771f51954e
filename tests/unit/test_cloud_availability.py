"""National clouds: every contract is checked against the published v1.0 schema (CSDL) of each cloud Atlas offers,
and the checked-in table of what each cloud lacks (atlas_services/cloud_availability.yaml) is exactly what those
schemas say. A capability that uses a missing contract is "not available in this cloud"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from atlas_services import cloud_availability
from atlas_services.clouds import CLOUDS, SIMULATOR
from atlas_services.errors import ProviderError
from atlas_services.graph.contracts import Contract, load_contracts
from atlas_services.providers.microsoft.readiness import readiness
from tests.support import graph_csdl

TABLE = yaml.safe_load(cloud_availability.TABLE_FILE.read_text(encoding="utf-8"))
OFFERED = sorted(name for name in CLOUDS if name != SIMULATOR)


def _schema_file(cloud: str) -> Path:
    return graph_csdl.CSDL if TABLE["schemas"][cloud] == "v1.0-Prod.csdl" else \
        graph_csdl.CSDL_DIR / TABLE["schemas"][cloud]


def _problem(contract: Contract, csdl: Path) -> str | None:
    """Why the contract does not resolve in the schema, or None when its path and every $select field do."""
    try:
        entity = graph_csdl.resolve(contract.path, csdl)
    except (AssertionError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    props, _ = graph_csdl.members(entity, csdl)
    unknown = [f for f in contract.select if f not in props]
    return f"{unknown} are not properties of {entity}" if unknown else None


def test_the_table_names_every_cloud_atlas_offers_and_its_schema() -> None:
    assert sorted(TABLE["schemas"]) == OFFERED == sorted(TABLE["missing"])
    assert TABLE["schemas"] == {"global": "v1.0-Prod.csdl", "usgov": "v1.0-Fairfax.csdl",
                                "usgov_dod": "v1.0-Fairfax.csdl", "china": "v1.0-Mooncake.csdl"}
    known = set(load_contracts())
    for cloud, missing in TABLE["missing"].items():
        for key, capabilities in (missing or {}).items():
            assert key in known, f"{cloud}: {key} is not a contract"
            assert list(capabilities) == list(load_contracts()[key].capabilities)


@pytest.mark.parametrize("cloud", OFFERED)
@pytest.mark.parametrize("key", sorted(load_contracts()))
def test_every_contract_against_each_clouds_schema(cloud: str, key: str) -> None:
    csdl = _schema_file(cloud)
    if not csdl.exists():
        pytest.skip(f"Graph v1.0 CSDL for {cloud} not found at {csdl}")
    problem = _problem(load_contracts()[key], csdl)
    if key in (TABLE["missing"][cloud] or {}):
        assert problem is not None, f"{key} resolves in {cloud}: remove it from cloud_availability.yaml"
    else:
        assert problem is None, f"{key} in {cloud} ({csdl.name}): {problem}; add it to cloud_availability.yaml"


def test_the_table_is_what_the_schemas_derive() -> None:
    files = {cloud: _schema_file(cloud) for cloud in OFFERED}
    absent = [str(f) for f in files.values() if not f.exists()]
    if absent:
        pytest.skip(f"Graph v1.0 CSDL not found: {absent}")
    derived = {cloud: {key: list(c.capabilities) for key, c in sorted(load_contracts().items())
                       if _problem(c, files[cloud]) is not None} for cloud in OFFERED}
    stored = {cloud: {k: list(v) for k, v in (TABLE["missing"][cloud] or {}).items()} for cloud in OFFERED}
    assert stored == derived, "cloud_availability.yaml is out of date; its `missing:` should read:\n" + \
        yaml.safe_dump({"missing": derived}, sort_keys=True)


def test_the_check_itself_sees_a_contract_a_cloud_lacks() -> None:
    # Settings Catalog (configurationPolicies) is in no v1.0 schema (../shared/graph/SOURCES.md).
    csdl = _schema_file("china")
    if not csdl.exists():
        pytest.skip(f"{csdl} not found")
    fake = Contract("configurationPolicies.list", "GET", "/deviceManagement/configurationPolicies", "v1.0", ("id",),
                    ("DeviceManagementConfiguration.Read.All",), True, "intune_configuration", ("inventory_sync",))
    assert _problem(fake, csdl) is not None
    wrong_field = Contract("organization.list", "GET", "/organization", "v1.0", ("id", "notAField"),
                           ("Organization.Read.All",), False, "directory", ("health_check",))
    assert "notAField" in (_problem(wrong_field, csdl) or "")


# -- what a gap does ------------------------------------------------------------------------------------------------

GAP = cloud_availability.CloudAvailability("usgov", {"mobileApps.list": ("inventory_sync",)})


def test_a_missing_contract_makes_its_capability_not_available_in_the_health_check() -> None:
    ready = readiness(load_contracts(), {"Organization.Read.All", "DeviceManagementApps.Read.All"}, gaps=GAP)
    assert ready["inventory_sync"]["status"] == "not_available"
    assert "usgov" in ready["inventory_sync"]["label"] and "mobileApps.list" in ready["inventory_sync"]["label"]
    assert ready["inventory_sync"]["contracts"]["mobileApps.list"]["status"] == "not_available"
    assert ready["health_check"]["status"] == "ready" and ready["compliance_snapshot"]["status"] == "blocked"
    assert GAP.unavailable() == {"inventory_sync": ["mobileApps.list"]}


def test_the_start_gate_check_refuses_with_its_own_reason_code(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    table = tmp_path / "availability.yaml"
    table.write_text(yaml.safe_dump({"schemas": TABLE["schemas"], "missing": {
        **{c: {} for c in OFFERED}, "china": {"mobileApps.list": ["inventory_sync"]}}}), encoding="utf-8")
    monkeypatch.setattr(cloud_availability, "TABLE_FILE", table)
    with pytest.raises(ProviderError) as caught:
        cloud_availability.refuse_if_unavailable("china", "inventory_sync")
    assert caught.value.code == "capability.not_available_in_cloud"
    assert "china" in (caught.value.detail or "") and "mobileApps.list" in (caught.value.detail or "")
    cloud_availability.refuse_if_unavailable("china", "health_check")
    cloud_availability.refuse_if_unavailable("global", "inventory_sync")
    # The simulator answers like the global cloud.
    assert cloud_availability.availability(SIMULATOR).missing == cloud_availability.availability("global").missing

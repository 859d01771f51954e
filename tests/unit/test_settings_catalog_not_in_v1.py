"""Settings Catalog and endpoint security are not in Graph v1.0 (read from Microsoft's published v1.0 CSDL), and
the inventory says so plainly: an admin must not take the classic device configurations for the whole picture."""

from __future__ import annotations

import pytest

from atlas_services.runs.summaries import NOT_IN_GRAPH_V1
from tests.support import graph_csdl


@graph_csdl.NEEDS_CSDL
def test_settings_catalog_and_endpoint_security_are_absent_from_graph_v1() -> None:
    _, navs = graph_csdl.members("microsoft.graph.deviceManagement")
    assert "deviceConfigurations" in navs and "deviceCompliancePolicies" in navs  # the check sees the classics
    assert "configurationPolicies" not in navs  # Settings Catalog (beta only)
    assert "intents" not in navs  # endpoint security (beta only)
    types = graph_csdl.schema().types
    assert "microsoft.graph.deviceManagementConfigurationPolicy" not in types
    assert "microsoft.graph.deviceManagementIntent" not in types
    with pytest.raises(AssertionError, match="not a navigation property"):
        graph_csdl.resolve("/deviceManagement/configurationPolicies")


def test_the_inventory_says_what_graph_v1_does_not_show() -> None:
    assert "Settings Catalog" in NOT_IN_GRAPH_V1 and "configurationPolicies" in NOT_IN_GRAPH_V1
    assert "endpoint security" in NOT_IN_GRAPH_V1 and "Graph v1.0" in NOT_IN_GRAPH_V1

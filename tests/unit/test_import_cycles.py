"""No import cycle inside atlas_services (DESIGN.md §3): every edge A -> B must have no way back from B to A."""

from __future__ import annotations

import grimp


def test_atlas_services_has_no_import_cycle() -> None:
    graph = grimp.build_graph("atlas_services")
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []


def test_the_cycle_check_sees_imports_inside_functions() -> None:
    """grimp counts an import inside a function as an edge, so a lazy import cannot hide a cycle."""
    graph = grimp.build_graph("atlas_jobs", "atlas_services")
    assert "atlas_services.runs.execute" in graph.find_modules_directly_imported_by("atlas_jobs.tasks")

"""Microsoft clouds for the Graph code: the one table lives in atlas_services.clouds (the web tier reads it too)."""

from atlas_services.clouds import CLOUDS, SIMULATOR, SIMULATOR_HOSTS, CloudEndpoints, get_cloud

__all__ = ["CLOUDS", "SIMULATOR", "SIMULATOR_HOSTS", "CloudEndpoints", "get_cloud"]

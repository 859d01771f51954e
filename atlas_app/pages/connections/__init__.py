"""/connections: the tenant's Microsoft connections (state in ``state``, view in ``view``)."""

from atlas_app.pages.connections.state import ConnectionsState
from atlas_app.pages.connections.view import ROUTE, connections_page

__all__ = ["ROUTE", "ConnectionsState", "connections_page"]

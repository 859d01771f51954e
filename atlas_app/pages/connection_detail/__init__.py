"""/connections/[connection_id]: one connection (state in ``state``, view in ``view`` and its sections)."""

from atlas_app.pages.connection_detail.state import ConnectionDetailState
from atlas_app.pages.connection_detail.view import ROUTE, connection_detail_page

__all__ = ["ROUTE", "ConnectionDetailState", "connection_detail_page"]

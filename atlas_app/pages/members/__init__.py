"""/members: members, roles and pending invitations (state in ``state``, view in ``view``)."""

from atlas_app.pages.members.state import ROUTE, MembersState
from atlas_app.pages.members.view import members_page

__all__ = ["ROUTE", "MembersState", "members_page"]

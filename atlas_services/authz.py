"""Capabilities, the role table, and the one tenant-scoped loader.

This is the only module that names roles; feature code asks ``can(actor, capability)``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ParamSpec, Protocol, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam, select
from sqlmodel import Session, SQLModel

from atlas_services.errors import Forbidden, NotFound
from atlas_services.models import Role


class Capability(StrEnum):
    PROVIDER_VIEW = "provider.view"
    PROVIDER_MANAGE = "provider.manage"
    PROVIDER_RUN = "provider.run"
    AUDIT_VIEW = "audit.view"
    TENANT_MANAGE = "tenant.manage"


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.MANAGER: frozenset(Capability) - {Capability.TENANT_MANAGE},
    Role.OPERATOR: frozenset({Capability.PROVIDER_VIEW, Capability.PROVIDER_RUN}),
    Role.READONLY: frozenset({Capability.PROVIDER_VIEW, Capability.AUDIT_VIEW}),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting, in which suite tenant. Built from a session or the CLI's --as; never from user input."""

    user_id: uuid.UUID
    email: str
    tenant_id: uuid.UUID
    tenant_name: str
    role: str

    @property
    def capabilities(self) -> frozenset[Capability]:
        return role_capabilities(self.role)


def role_capabilities(role: str) -> frozenset[Capability]:
    """What a role may do; an unknown role may do nothing."""
    try:
        return ROLE_CAPABILITIES[Role(role)]
    except ValueError:
        return frozenset()


def can(actor: Actor, capability: Capability) -> bool:
    return capability in actor.capabilities


def require(actor: Actor, capability: Capability) -> None:
    if not can(actor, capability):
        raise Forbidden(capability)


P = ParamSpec("P")
R = TypeVar("R")


def requires(capability: Capability) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare and enforce the capability of a use case whose first argument is the actor."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            actor = args[0] if args else kwargs.get("actor")
            if not isinstance(actor, Actor):
                raise TypeError(f"{fn.__name__} needs an Actor as its first argument")
            require(actor, capability)
            return fn(*args, **kwargs)

        wrapper.__atlas_capability__ = capability  # type: ignore[attr-defined]
        return wrapper

    return decorate


class TenantOwned(Protocol):
    id: Any
    tenant_id: uuid.UUID


T = TypeVar("T", bound=TenantOwned)
V = TypeVar("V")


def load_for_actor(session: Session, model: type[T], object_id: object, actor: Actor,
                   capability: Capability, *, what: str = "object") -> T:
    """Load a tenant-owned row for ``actor``.

    Another tenant's row, a soft-deleted row, a malformed id and a missing row all raise the same NotFound;
    a visible row whose action the actor may not take raises Forbidden.
    """
    return _visible(session.get(model, _key(object_id, what)), actor, capability, what)


def load_fields_for_actor(db: Session | Connection, model: type[TenantOwned], fields: tuple[str, ...],
                          object_id: object, actor: Actor, capability: Capability, *, what: str = "object") -> Row[Any]:
    """``load_for_actor`` for a hot path, by the same rule: only ``fields`` of the row, as a Row, not an entity
    (the start gate: loading a whole entity through the ORM costs more than the round trip). ``db`` may be a
    Core connection (``db.connection_scope``)."""
    row = db.execute(_fields_query(model, fields), {"key": _key(object_id, what)}).first()
    return _visible(row, actor, capability, what)


def _key(object_id: object, what: str) -> uuid.UUID:
    try:
        return object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        raise NotFound(what) from None


def _visible(row: V | None, actor: Actor, capability: Capability, what: str) -> V:
    """The one rule: an entity or a Row with ``tenant_id`` (and ``deleted_at`` where the table has one)."""
    tenant_id = getattr(row, "tenant_id", None)  # V is an entity or a Row
    if (row is None or tenant_id != actor.tenant_id or getattr(row, "deleted_at", None) is not None
            or not can(actor, Capability.PROVIDER_VIEW)):
        raise NotFound(what)
    require(actor, capability)
    return row


@functools.lru_cache(maxsize=32)
def _fields_query(model: type[TenantOwned], fields: tuple[str, ...]) -> Select[Any]:
    table = SQLModel.metadata.tables[model.__tablename__]  # type: ignore[attr-defined]
    rule = ("tenant_id", "deleted_at") if "deleted_at" in table.c else ("tenant_id",)
    return select(*(table.c[name] for name in dict.fromkeys(fields + rule))).where(table.c.id == bindparam("key"))

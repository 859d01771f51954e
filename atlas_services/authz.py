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

from sqlmodel import Session

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


def load_for_actor(session: Session, model: type[T], object_id: object, actor: Actor,
                   capability: Capability, *, what: str = "object") -> T:
    """Load a tenant-owned row for ``actor``.

    Another tenant's row, a soft-deleted row, a malformed id and a missing row all raise the same NotFound;
    a visible row whose action the actor may not take raises Forbidden.
    """
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        raise NotFound(what) from None
    row = session.get(model, key)
    if (row is None or row.tenant_id != actor.tenant_id or getattr(row, "deleted_at", None) is not None
            or not can(actor, Capability.PROVIDER_VIEW)):
        raise NotFound(what)
    require(actor, capability)
    return row

"""The one way to declare a State event handler: who may call it, and what each argument must be.

Reflex makes every public State method callable from the browser, with whatever arguments the browser sends
(annotations are not enforced; reflex-notes §2). So every public handler in ``atlas_app`` is declared through
``requires_capability`` (a signed-in actor holding a capability, or just signed in: ``SIGNED_IN``) or
``public_handler`` (the login page and the index redirect). The decorator, before the handler body runs:

1. resolves the actor from the session cookie (``SessionState._actor``): nobody signed in → redirect to /login.
   The session, the membership and the role are read afresh from PostgreSQL for every event, so a member removed
   or demoted a moment ago is refused at once; only a timer poll of what the tab already shows
   (``temporal=True``) may reuse a check younger than ``ACTOR_CACHE_SECONDS`` (a few seconds);
2. checks ``can(actor, capability)``: missing → a "no permission" notice, nothing else happens;
3. binds the call to the handler's signature and runs each argument's validator: an unknown, missing or
   badly typed argument → an "invalid request" notice, nothing else happens;

then calls the body as ``fn(self, actor, **clean_arguments)``. Every argument must have a validator: the
decorator refuses, at import time, a handler with an argument it cannot check. Form arguments with secret
fields also clear those inputs in the browser after every call, refused or not. The declared access and the
validators are kept on the function (``ACCESS_ATTRIBUTE``, ``ARGUMENTS_ATTRIBUTE``) so a registry test can
list every handler that lacks them.

The decorator applies ``rx.event`` itself; handlers are ``async def`` only.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

import reflex as rx

from atlas_services.authz import Actor, Capability, can
from atlas_services.logs import log_context
from atlas_services.secrets import SecretValue

log = logging.getLogger(__name__)

ACCESS_ATTRIBUTE = "__atlas_access__"
ARGUMENTS_ATTRIBUTE = "__atlas_arguments__"
TIMER_POLL_ATTRIBUTE = "__atlas_timer_poll__"

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any signed-in actor, whatever their capabilities (switching tenant, dismissing a notice)

DENIED = "You do not have permission to do that."
PAGE_DENIED = "You do not have access to this page."
INVALID = "That request was not valid."
MAX_FORM_FIELDS = 40


class BadArgument(Exception):
    """An event argument failed its validator; the message is safe to show (it never echoes the value)."""

    def __init__(self, message: str = INVALID) -> None:
        super().__init__(message)


Validator = Callable[[Any], Any]


# ---------------------------------------------------------------- validators


def uuid_arg(value: Any) -> str:
    """An id: a string that parses as a UUID; returned in canonical form."""
    if not isinstance(value, str) or len(value) > 64:
        raise BadArgument()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadArgument() from None


def flag_arg(value: Any) -> bool:
    """A real boolean (not "true", not 1)."""
    if type(value) is not bool:
        raise BadArgument()
    return value


def choice_arg(*choices: str) -> Validator:
    """One of a fixed set of strings."""
    allowed = frozenset(choices)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise BadArgument()
        return value

    check.choices = tuple(choices)  # type: ignore[attr-defined]
    return check


def ignored_arg(value: Any) -> None:
    """An argument the handler does not use (a timer tick): whatever it is, it is dropped."""
    return None


def files_arg(max_files: int = 1) -> Validator:
    """Files from ``rx.upload`` (Reflex builds these objects itself from the multipart body)."""

    def check(value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_files:
            raise BadArgument("Choose one file.")
        if not all(isinstance(item, rx.UploadFile) for item in value):
            raise BadArgument()
        return list(value)

    check.accepts_files = True  # type: ignore[attr-defined]
    return check


@dataclasses.dataclass(frozen=True)
class FormField:
    label: str
    max_length: int = 200
    secret: bool = False  # handed over as SecretValue (or None when empty); the input is cleared after every call
    checkbox: bool = False  # True when ticked

    def clean(self, value: Any) -> Any:
        if self.checkbox:
            return value is True or value in ("on", "true")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadArgument()
        if len(value) > self.max_length:
            raise BadArgument(f"{self.label} is too long (at most {self.max_length:,} characters).")
        if self.secret:
            return SecretValue(value) if value else None
        return value


def text_field(label: str, max_length: int = 200) -> FormField:
    return FormField(label, max_length)


def secret_field(label: str, max_length: int) -> FormField:
    return FormField(label, max_length, secret=True)


def checkbox_field(label: str) -> FormField:
    return FormField(label, checkbox=True)


class FormArgument:
    """A submitted form: a dict of known fields (name == the input's id), each checked; others are dropped."""

    def __init__(self, **fields: FormField) -> None:
        self.fields: Mapping[str, FormField] = MappingProxyType(fields)
        self.secret_fields = tuple(name for name, spec in fields.items() if spec.secret)

    def __call__(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping) or len(value) > MAX_FORM_FIELDS:
            raise BadArgument()
        if not all(isinstance(key, str) for key in value):
            raise BadArgument()
        return {name: spec.clean(value.get(name)) for name, spec in self.fields.items()}


def form_arg(**fields: FormField) -> FormArgument:
    return FormArgument(**fields)


# ---------------------------------------------------------------- the decorators


@dataclasses.dataclass(frozen=True)
class _Admission:
    proceed: bool
    actor: Actor | None = None
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    result: Any = None


def requires_capability(capability: Capability | str, *, background: bool = False, temporal: bool = False,
                        denied: str = DENIED, **arguments: Validator) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """A handler for a signed-in actor holding ``capability`` (or any signed-in actor: ``SIGNED_IN``).

    The body is called as ``fn(self, actor, **arguments)``; ``arguments`` names a validator for every
    argument after ``actor``. ``temporal=True`` declares a timer poll of what the tab already shows: Reflex may
    drop a tick, and the guard may reuse a session check a few seconds old. Nothing that changes anything, or
    reads another page of data, may be declared so.
    """
    if capability != SIGNED_IN and not isinstance(capability, Capability):
        raise TypeError(f"unknown capability {capability!r}")
    return _declare(capability, arguments, background=background, temporal=temporal, denied=denied)


def public_handler(*, background: bool = False, **arguments: Validator
                   ) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """A handler anyone may call, signed in or not; the body is called as ``fn(self, **arguments)``."""
    return _declare(PUBLIC, arguments, background=background, temporal=False, denied=DENIED)


def _declare(access: Capability | str, arguments: Mapping[str, Validator], *, background: bool, temporal: bool,
             denied: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    def decorate(fn: Callable[..., Awaitable[Any]]) -> Any:
        name = fn.__qualname__
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"{name}: handlers must be async functions")
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        takes_actor = access != PUBLIC
        if takes_actor and (len(params) < 2 or params[1].name != "actor"):
            raise TypeError(f"{name}: the second parameter must be `actor`")
        public_params = [params[0], *params[2 if takes_actor else 1:]]
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in public_params):
            raise TypeError(f"{name}: *args and **kwargs cannot be validated")
        names = {p.name for p in public_params[1:]}
        if names != set(arguments):
            raise TypeError(f"{name}: every argument needs exactly one validator; unchecked: "
                            f"{sorted(names - set(arguments))}, unknown: {sorted(set(arguments) - names)}")
        public_signature = signature.replace(parameters=public_params)
        secret_inputs = tuple(sorted({field for validator in arguments.values()
                                      for field in getattr(validator, "secret_fields", ())}))

        async def admit(state: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Admission:
            actor = None
            if takes_actor:
                actor = await state._actor(reuse_recent_check=temporal)
                if actor is None:
                    return _Admission(False, result=state._signed_out())
                if access != SIGNED_IN and not can(actor, Capability(access)):
                    log.warning("refused %s: the actor lacks %s", name, access)
                    state._say(denied, "error")
                    return _Admission(False)
            try:
                bound = public_signature.bind(state, *args, **kwargs)
                bound.apply_defaults()
                clean = {key: arguments[key](value) for key, value in list(bound.arguments.items())[1:]}
            except (TypeError, BadArgument) as exc:
                # Names only: argument values can be anything, secrets included.
                log.warning("refused %s: invalid arguments (%s)", name, type(exc).__name__)
                state._say(str(exc) if isinstance(exc, BadArgument) else INVALID, "error")
                return _Admission(False)
            return _Admission(True, actor, clean)

        @functools.wraps(fn)
        async def handler(self: Any, *args: Any, **kwargs: Any) -> Any:
            if background:
                async with self:
                    admission = await admit(self, args, kwargs)
            else:
                admission = await admit(self, args, kwargs)
            if not admission.proceed:
                return _clearing(secret_inputs, admission.result)
            if takes_actor:
                tenant_id = admission.actor.tenant_id if admission.actor is not None else None
                with log_context(tenant_id=tenant_id):  # the handler's log lines say whose
                    result = await fn(self, admission.actor, **admission.arguments)
            else:
                result = await fn(self, **admission.arguments)
            return _clearing(secret_inputs, result)

        # What Reflex (and the browser) see: the signature without `actor`; type hints stay on the body.
        handler.__signature__ = public_signature  # type: ignore[attr-defined]
        handler.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "actor"}
        setattr(handler, ACCESS_ATTRIBUTE, access)
        setattr(handler, ARGUMENTS_ATTRIBUTE, MappingProxyType(dict(arguments)))
        setattr(handler, TIMER_POLL_ATTRIBUTE, temporal)
        return rx.event(handler, background=background, temporal=temporal or None)

    return decorate


def _clearing(secret_inputs: tuple[str, ...], result: Any) -> Any:
    """The handler's events, preceded by clearing every secret input it was given."""
    if not secret_inputs:
        return result
    clears = [rx.set_value(element_id, "") for element_id in secret_inputs]
    if result is None:
        return clears
    if isinstance(result, list | tuple):
        return [*clears, *result]
    return [*clears, result]


def access_of(fn: Any) -> Capability | str | None:
    """The access a handler function declares, or None when it declares none."""
    return getattr(fn, ACCESS_ATTRIBUTE, None)


def is_timer_poll(fn: Any) -> bool:
    """Whether a handler is a timer poll of what the tab already shows (the only kind that may reuse a check)."""
    return bool(getattr(fn, TIMER_POLL_ATTRIBUTE, False))


def takes_files(fn: Any) -> bool:
    """Whether a handler takes an upload (the only handlers ``POST /_upload`` may name)."""
    return any(getattr(validator, "accepts_files", False) for validator in (validators_of(fn) or {}).values())


def validators_of(fn: Any) -> Mapping[str, Validator] | None:
    return getattr(fn, ARGUMENTS_ATTRIBUTE, None)

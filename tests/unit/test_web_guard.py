"""The handler guard's validators and its import-time checks (the behaviour behind a handler is tested in
tests/integration/test_web_handlers.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from atlas_app.state.guard import (
    ACCESS_ATTRIBUTE,
    SIGNED_IN,
    BadArgument,
    checkbox_field,
    choice_arg,
    files_arg,
    flag_arg,
    form_arg,
    requires_capability,
    secret_field,
    text_field,
    uuid_arg,
)
from atlas_services.authz import Actor, Capability
from atlas_services.secrets import SecretValue

HOSTILE = [{"a": 1}, ["x"], 1, 1.5, None, "", "x" * 10_000, "' OR 1=1 --", "<script>alert(1)</script>"]


def test_ids_must_be_uuid_strings_and_come_back_canonical() -> None:
    value = uuid.uuid4()
    assert uuid_arg(str(value).upper()) == str(value)
    for bad in [*HOSTILE, value, True, str(value) + "0", "{" + str(value) + "}" + " " * 60]:
        with pytest.raises(BadArgument):
            uuid_arg(bad)


def test_flags_must_be_real_booleans() -> None:
    assert flag_arg(True) is True and flag_arg(False) is False
    for bad in [*HOSTILE, "true", "false", 0, 1]:
        with pytest.raises(BadArgument):
            flag_arg(bad)


def test_choices_and_files() -> None:
    pick = choice_arg("secret", "pem")
    assert pick("pem") == "pem"
    for bad in [*HOSTILE, "pfx", "PEM"]:
        with pytest.raises(BadArgument):
            pick(bad)
    files = files_arg(1)
    assert files(None) == [] and files([]) == []
    for bad in ["file", {"name": "x"}, [{"name": "x.pfx"}], ["a", "b"]]:
        with pytest.raises(BadArgument):
            files(bad)


def test_forms_keep_known_fields_bound_their_length_and_wrap_secrets() -> None:
    form = form_arg(name=text_field("Name", 10), secret=secret_field("The secret", 50), sure=checkbox_field("Sure"))
    clean = form({"name": "ok", "secret": "s3cret", "sure": "on", "extra": {"dropped": True}})
    assert clean == {"name": "ok", "secret": clean["secret"], "sure": True}
    assert isinstance(clean["secret"], SecretValue) and clean["secret"].reveal() == "s3cret"
    assert form({}) == {"name": "", "secret": None, "sure": False}
    assert form.secret_fields == ("secret",)
    for bad in ["text", ["name"], {"name": 12}, {"name": ["a"]}, {"name": "x" * 11}, {"secret": "s" * 51},
                {str(i): "" for i in range(100)}]:
        with pytest.raises(BadArgument):
            form(bad)


def test_refusal_messages_never_echo_the_value() -> None:
    form = form_arg(secret=secret_field("The secret", 5))
    with pytest.raises(BadArgument) as caught:
        form({"secret": "TOPSECRET-VALUE"})
    assert "TOPSECRET" not in str(caught.value) and "The secret is too long" in str(caught.value)


def test_a_handler_with_an_unchecked_argument_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="unchecked"):
        @requires_capability(Capability.PROVIDER_VIEW)
        async def load(self: Any, actor: Actor, connection_id: str) -> None:
            return None

    with pytest.raises(TypeError, match="actor"):
        @requires_capability(Capability.PROVIDER_VIEW, connection_id=uuid_arg)
        async def no_actor(self: Any, connection_id: str) -> None:
            return None

    with pytest.raises(TypeError, match="validated"):
        @requires_capability(Capability.PROVIDER_VIEW)
        async def anything(self: Any, actor: Actor, **kwargs: Any) -> None:
            return None

    with pytest.raises(TypeError, match="capability"):
        requires_capability("admin")


def test_the_declaration_is_kept_on_the_handler() -> None:
    @requires_capability(SIGNED_IN, connection_id=uuid_arg)
    async def handler(self: Any, actor: Actor, connection_id: str) -> None:
        return None

    assert getattr(handler, ACCESS_ATTRIBUTE) == SIGNED_IN


def test_unhandled_handler_errors_log_the_type_but_never_the_message(caplog: pytest.LogCaptureFixture) -> None:
    from atlas_app.atlas_app import _on_backend_exception, app

    assert app.backend_exception_handler is _on_backend_exception
    secret = f"SECRET-{uuid.uuid4().hex}"  # a runtime value, as secrets are (source lines do appear in stacks)
    try:
        raise ValueError(f"could not use {secret}")
    except ValueError as exc:
        with caplog.at_level("ERROR"):
            event = _on_backend_exception(exc)
    assert "ValueError" in caplog.text and "test_web_guard.py" in caplog.text
    assert secret not in caplog.text
    assert secret not in str(event) and "Something went wrong" in str(event)

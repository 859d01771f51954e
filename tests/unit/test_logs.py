"""atlas_services.logs: JSON lines, the run/tenant context, and the redaction the credential module feeds."""

from __future__ import annotations

import base64
import contextvars
import io
import json
import logging
import threading
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from atlas_services import logs
from atlas_services.config import Settings
from atlas_services.credentials import KeyRing, open_sealed, open_webhook_url, seal, seal_webhook_url
from atlas_services.secrets import SecretValue
from tests.support.canary import encodings

KEYS = "t1:" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture(autouse=True)
def _root_level_restored() -> Iterator[None]:
    """configure_logging sets the root level: later tests in this process keep the level they had."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.configure_logging("json", "DEBUG", stream=stream)
    logs.secrets.clear()
    yield stream
    logging.getLogger().removeHandler(handler)
    logs.secrets.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_a_json_line_holds_the_message_the_level_and_the_bound_context(captured: io.StringIO) -> None:
    run_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    log = logging.getLogger("atlas.test")
    log.info("outside")
    with logs.log_context(run_id=run_id):
        with logs.log_context(tenant_id=tenant_id, connection_id=None):
            log.warning("inside %s", "both")
        log.info("run only")
    outside, inside, run_only = _lines(captured)
    assert outside["message"] == "outside" and "run_id" not in outside and outside["level"] == "info"
    assert inside == {**inside, "message": "inside both", "level": "warning", "logger": "atlas.test",
                      "run_id": str(run_id), "tenant_id": str(tenant_id)}
    assert "connection_id" not in inside  # None is left out
    assert run_only["run_id"] == str(run_id) and "tenant_id" not in run_only


def test_the_context_follows_work_handed_to_a_thread_with_a_copied_context(captured: io.StringIO) -> None:
    run_id = uuid.uuid4()
    log = logging.getLogger("atlas.test")
    with logs.log_context(run_id=run_id):
        copied = threading.Thread(target=contextvars.copy_context().run, args=(log.info, "copied"))
    bare = threading.Thread(target=log.info, args=("bare",))
    for thread in (copied, bare):
        thread.start()
        thread.join()
    by_message = {line["message"]: line for line in _lines(captured)}
    assert by_message["copied"]["run_id"] == str(run_id)
    assert "run_id" not in by_message["bare"]


def test_only_known_fields_can_be_bound() -> None:
    with pytest.raises(ValueError, match="password"), logs.log_context(password="x"):
        pass


def test_a_registered_secret_is_masked_in_messages_arguments_and_tracebacks(captured: io.StringIO) -> None:
    secret = f"S3cr3t~{uuid.uuid4().hex}\"quoted\\"
    logs.register_secret(secret)
    log = logging.getLogger("atlas.test")
    log.info("plain %s", secret)
    log.info("in base64 %s and url %s", base64.b64encode(secret.encode()).decode(),
             urllib.parse.quote(secret, safe=""))
    try:
        raise RuntimeError(f"a library put it here: {secret}")
    except RuntimeError:
        log.exception("failed")
    text = captured.getvalue()
    assert text.count(logs.REDACTED) >= 4
    for form in (secret, json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode().rstrip("="),
                 urllib.parse.quote(secret, safe="")):
        assert form not in text
    failed = _lines(captured)[-1]
    assert "RuntimeError" in str(failed["exception"]) and logs.REDACTED in str(failed["exception"])


def test_an_unregistered_value_is_left_alone_so_the_mask_is_not_blanket(captured: io.StringIO) -> None:
    logs.register_secret(f"registered-{uuid.uuid4().hex}")
    other = f"not-a-secret-{uuid.uuid4().hex}"
    logging.getLogger("atlas.test").info("value %s", other)
    assert _lines(captured)[-1]["message"] == f"value {other}"


def test_the_text_format_masks_too_and_shows_the_context() -> None:
    stream = io.StringIO()
    handler = logs.configure_logging("text", "INFO", stream=stream)
    try:
        secret = f"text-secret-{uuid.uuid4().hex}"
        logs.register_secret(secret)
        with logs.log_context(run_id="r-1"):
            logging.getLogger("atlas.test").info("got %s", secret)
    finally:
        logging.getLogger().removeHandler(handler)
        logs.secrets.clear()
    line = stream.getvalue()
    assert secret not in line and logs.REDACTED in line and "run_id=r-1" in line


def test_short_values_are_not_registered_and_the_registry_is_bounded() -> None:
    registry = logs.SecretRegistry(limit=20)
    registry.register("short")
    assert registry.redact("a short word") == "a short word"
    for n in range(30):
        registry.register(f"value-number-{n:04d}-long-enough")
    assert registry.redact("value-number-0029-long-enough") == logs.REDACTED
    assert registry.redact("value-number-0000-long-enough") == "value-number-0000-long-enough"  # evicted


def test_a_pem_key_inside_a_json_bundle_is_masked_line_by_line() -> None:
    registry = logs.SecretRegistry()
    line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    pem = f"-----BEGIN PRIVATE KEY-----\n{line}\n-----END PRIVATE KEY-----\n"
    registry.register(json.dumps({"private_key": pem, "thumbprint": "AB" * 20}))
    assert registry.redact(f"oops {line} here") == f"oops {logs.REDACTED} here"


def test_configuring_again_replaces_the_handler_instead_of_adding_one() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    first = logs.configure_logging("json", "INFO", stream=io.StringIO())
    second = logs.configure_logging("text", "INFO", stream=io.StringIO())
    try:
        assert first not in root.handlers and second in root.handlers
        assert len(root.handlers) == before + 1
    finally:
        root.removeHandler(second)


def test_the_credential_module_feeds_the_redaction_when_it_seals_and_opens() -> None:
    logs.secrets.clear()
    ring = KeyRing(KEYS)
    ids = {"tenant_id": uuid.uuid4(), "connection_id": uuid.uuid4(), "credential_id": uuid.uuid4()}
    sealed_value, opened_value = f"sealed-{uuid.uuid4().hex}", f"opened-{uuid.uuid4().hex}"
    seal(SecretValue(sealed_value), keyring=ring, **ids)
    assert logs.secrets.redact(sealed_value) == logs.REDACTED
    # A worker that never sealed it learns the value when it opens it.
    sealed = seal(SecretValue(opened_value), keyring=ring, **ids)
    logs.secrets.clear()
    assert open_sealed(sealed, keyring=ring, **ids).reveal() == opened_value
    assert logs.secrets.redact(opened_value) == logs.REDACTED
    url = f"https://hooks.example.test/webhook/{uuid.uuid4().hex}"
    sealed_url = seal_webhook_url(SecretValue(url), tenant_id=ids["tenant_id"], keyring=ring)
    logs.secrets.clear()
    open_webhook_url(sealed_url, tenant_id=ids["tenant_id"], keyring=ring)
    assert logs.secrets.redact(f"POST {url}") == f"POST {logs.REDACTED}"
    logs.secrets.clear()


def test_log_settings_accept_any_case_and_refuse_other_words() -> None:
    settings = Settings(log_format="JSON", log_level="debug")
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    with pytest.raises(ValidationError):
        Settings(log_format="xml")
    with pytest.raises(ValidationError):
        Settings(log_level="chatty")


def test_the_sweeps_needles_catch_a_planted_leak_that_the_redaction_then_removes(captured: io.StringIO) -> None:
    """The end-to-end sweep (tests/integration/test_canary_logs.py) can fail: a canary logged in any encoding it
    searches for is found while the value is unknown to the redaction, and gone once the credential code
    registered it."""
    canary = f"CANARY~{uuid.uuid4().hex}"
    log = logging.getLogger("atlas.test")

    def plant() -> str:
        start = len(captured.getvalue())
        for name, form in encodings(canary).items():
            log.debug("leak as %s: %s", name, form)
        try:
            raise ValueError(f"token request failed for {canary}")
        except ValueError:
            log.exception("failed")
        return captured.getvalue()[start:]

    leaked = plant()
    assert sorted(name for name, needle in encodings(canary).items() if needle in leaked) == sorted(encodings(canary))
    logs.register_secret(canary)
    assert [name for name, needle in encodings(canary).items() if needle in plant()] == []


def test_a_library_warning_becomes_a_json_line_not_raw_stderr(captured: io.StringIO) -> None:
    import warnings

    secret = f"warned-{uuid.uuid4().hex}"
    logs.register_secret(secret)
    # pytest swaps warnings.showwarning around each test; logging's capture is reset so configure_logging installs it.
    logging.captureWarnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        handler = logs.configure_logging("json", "DEBUG", stream=captured)
        try:
            warnings.warn(f"deprecated call with {secret}", UserWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
            logging.getLogger().removeHandler(handler)
    line = _lines(captured)[-1]
    assert line["logger"] == "py.warnings" and "deprecated call" in str(line["message"])
    assert secret not in captured.getvalue()


def test_a_web_handler_acting_for_a_tenant_logs_with_its_tenant_id(captured: io.StringIO) -> None:
    import asyncio

    from atlas_app.state.guard import SIGNED_IN, requires_capability, uuid_arg
    from atlas_services.authz import Actor

    actor = Actor(user_id=uuid.uuid4(), email="m@example.test", tenant_id=uuid.uuid4(), tenant_name="T", role="owner")

    @requires_capability(SIGNED_IN, connection_id=uuid_arg)
    async def handler(self: object, actor: Actor, connection_id: str) -> None:
        logging.getLogger("atlas.test").info("acting on %s", connection_id)

    class FakeState:
        async def _actor(self, reuse_recent_check: bool = False) -> Actor:
            return actor

    asyncio.run(handler(FakeState(), str(uuid.uuid4())))
    logging.getLogger("atlas.test").info("after")
    acting, after = _lines(captured)[-2:]
    assert acting["tenant_id"] == str(actor.tenant_id) and "tenant_id" not in after


def test_the_default_handler_writes_to_the_stderr_of_the_moment_not_a_closed_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    handler = logs.configure_logging("json", "INFO")
    try:
        logging.getLogger("atlas.test").info("one")
        monkeypatch.setattr("sys.stderr", second)
        first.close()  # a test runner's capture file, closed after its test
        logging.getLogger("atlas.test").info("two")
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(second.getvalue())["message"] == "two"

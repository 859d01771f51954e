"""Browser-test fixtures: the built web app in a subprocess, and Playwright pages on Debian's Chromium.

``web_app`` runs ``reflex run --env prod --single-port`` on a free loopback port with this test run's
environment (ATLAS_DATABASE_URL, ATLAS_REDIS_URL, ... are already in os.environ) and yields its base URL.
``browser_page`` is a fresh browser context and page per test.

Without Chromium (or without the project-local bun that builds the frontend) browser tests skip with the
reason, unless ATLAS_REQUIRE_BROWSER=1, which turns the skip into a failure (CI sets it).
Playwright never downloads a browser here: it drives /usr/bin/chromium (or ATLAS_CHROMIUM).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from atlas_cli.supervisor import BUN_BIN, stop_process_group, web_command, web_environment
from tests.support.browser import HOME_URL, PAGE_TIMEOUT_MS, WEB_LOGS
from tests.support.web_build import START_TIMEOUT
from tests.support.web_build import build_turn as _build_turn
from tests.support.web_build import tail as _tail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STOP_GRACE = 5.0


def _unavailable(reason: str) -> None:
    if os.environ.get("ATLAS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ATLAS_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, timeout: float = 2.0) -> int:
    """The status of GET http://127.0.0.1:port/path, or 0 when nothing answers.

    http.client, not urllib or httpx: the outbound guard records those, and readiness probes are not
    requests made by the code under test.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def _server_environment(port: int, web_dir: Path | None = None) -> dict[str, str]:
    """What `atlas web` runs with, plus per-test-server settings."""
    env = web_environment()
    env.update(
        # One worker per test server keeps its state in memory: no .states/ shared between servers.
        REFLEX_STATE_MANAGER_MODE="memory",
        ATLAS_WEB_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    env.pop("REFLEX_REDIS_URL", None)
    if web_dir is not None:
        env["REFLEX_WEB_WORKDIR"] = str(web_dir)
    return env


@pytest.fixture(scope="session")
def web_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built web app on a free loopback port; yields its base URL."""
    if not (BUN_BIN / "bun").exists():
        _unavailable(f"bun is not installed at {BUN_BIN}: run scripts/setup_web.sh")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("web") / "reflex.log"
    WEB_LOGS.append(log_path)
    command = web_command(port, "127.0.0.1")
    base_url = f"http://127.0.0.1:{port}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    # Parallel workers must not rebuild one .web/ while another serves from it: each gets its own.
    web_dir = Path(tempfile.mkdtemp(prefix=f"atlas-web-{worker}-")) if worker else None
    proc: subprocess.Popen[bytes] | None = None
    try:
        # `reflex run` also writes files in the project root (.gitignore, reflex.lock/) while it builds; two
        # builds at once can truncate them for each other, so builds take turns (across workers and runs).
        with _build_turn():
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(command, cwd=ROOT, env=_server_environment(port, web_dir), stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            started = time.monotonic()
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the web app exited with {proc.returncode} before it was ready:\n"
                                f"{_tail(log_path)}", pytrace=False)
                if _get(port, "/ping") == 200 and _get(port, "/login/") == 200:
                    break
                if time.monotonic() - started > START_TIMEOUT:
                    pytest.fail(f"the web app was not ready within {START_TIMEOUT:.0f} s:\n{_tail(log_path)}",
                                pytrace=False)
                time.sleep(0.25)
        sys.stderr.write(f"\n[web_app] ready at {base_url} in {time.monotonic() - started:.1f} s\n")
        yield base_url
    finally:
        if proc is not None:
            stop_process_group(proc, grace=STOP_GRACE)
        if web_dir is not None:
            shutil.rmtree(web_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set ATLAS_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    from playwright.sync_api import expect

    # Assertions wait as long as actions do: a 2-core machine running the app, a worker and Chromium is slow.
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # noqa: BLE001 - reported as the reason
            _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_page(browser: Browser, web_app: str) -> Iterator[Page]:
    """A fresh context (no cookies) and page whose relative URLs resolve against the web app."""
    context = browser.new_context(base_url=web_app)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def sign_in(browser_page: Page) -> Callable[[str, str], Page]:
    """Sign in through the real login form; returns the page, now on /connections."""

    def _sign_in(email: str, password: str) -> Page:
        browser_page.goto("/login")
        browser_page.get_by_test_id("login-email").fill(email)
        browser_page.get_by_test_id("login-password").fill(password)
        browser_page.get_by_test_id("login-submit").click()
        browser_page.wait_for_url(HOME_URL)
        return browser_page

    return _sign_in

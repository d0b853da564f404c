"""Browser fixtures: Debian's chromium driven by Playwright for Python, against the live server.

One browser for the whole browser package (launched on first use, closed after its last test), a
fresh context (cookies, storage) per test, and a screenshot of every page a test visits, named
after the step, under tests/artifacts/screenshots/. Without chromium (or without the playwright
package) every browser test is skipped, so `make test` passes on a machine without them, except in CI
(CI set), where they fail: `.ci/run` installs chromium and `make install` playwright. Playwright's own browser downloads are never used: the executable is
/usr/bin/chromium or $PLAYWRIGHT_CHROMIUM.

The gateway's models are served by the fake upstream (`gateway`, from tests/proxy), and the live
server runs the real WSGI application with a transactional database, so a test's rows are
committed and seen by the server's threads.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve

from accounts.models import User, Workspace
from accounts.services import sign_up
from keys.services import IssuedKey, issue_key

from ..conftest import PASSWORD
from ..proxy.conftest import _reset_upstreams, gateway, upstream  # noqa: F401 - shared fixtures

try:
    from playwright.sync_api import expect
except ImportError:  # the tests skip (see `browser`); their modules still import

    def expect(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("playwright is not installed")


CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "tests" / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
# Chromium as root in a sandboxed machine with no outside network: no sandbox, no GPU, and none
# of the background connections it would otherwise try (and be refused) at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def _skip_reason() -> str | None:
    try:
        found = importlib.util.find_spec("playwright.sync_api") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "the playwright package is not installed (make install)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set PLAYWRIGHT_CHROMIUM)"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium, once for the package. Playwright's sync API keeps an asyncio loop running on
    this thread while it is open, which Django's ORM would take for async code: the tests' own
    ORM calls are allowed for as long as the browser is open (package scope, so that the loop is
    gone again before any other package's tests run)."""
    reason = _skip_reason()
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs both, and the browser tests must run in CI")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Session:
    """One test's browser context: pages opened here record their JavaScript errors and failed
    requests, and `shot` saves a screenshot named after the step."""

    browser: Any
    base_url: str
    context: Any = None
    page: Any = None
    errors: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def new_context(self, viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport,
            is_mobile=viewport is PHONE,
            has_touch=viewport is PHONE,
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base_url)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def _watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))
        page.on("response", self._response)

    def _console(self, page: Any, message: Any) -> None:
        # A failed load is judged by its response (below); anything else logged as an error is.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"{page.url}: console: {message.text}")

    def _response(self, response: Any) -> None:
        """5xx anywhere; 4xx for what a page loads (styles, scripts, images, fetches). A page's
        own 4xx (a refused page, a form re-shown with its errors) is for the test to judge."""
        status, kind = response.status, response.request.resource_type
        if status >= 500 or (
            status >= 400 and kind != "document" and not response.url.endswith("/favicon.ico")
        ):
            self.errors.append(f"{response.url}: HTTP {status} ({kind})")

    def goto(
        self, path: str, step: str, *, page: Any = None, status: int | tuple[int, ...] = 200
    ) -> Any:
        """Open `path`, check the answer's status (one of `status`), screenshot it as `step`."""
        page = page or self.page
        allowed = (status,) if isinstance(status, int) else status
        response = page.goto(path)
        assert response is not None and response.status in allowed, (
            f"GET {path}: {response.status if response else 'no response'}, expected {status}"
        )
        self.shot(step, page=page)
        return response

    def shot(self, step: str, *, page: Any = None) -> Path:
        page = page or self.page
        page.wait_for_load_state("load")
        path = SCREENSHOTS / f"{slugify(step)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def log_in(self, user: User, context: Any = None) -> None:
        """Signed in as `user` by a session cookie (the log-in form has its own tests)."""
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        (context or self.context).add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": self.base_url}]
        )

    def phone(self, user: User) -> Any:
        """A page in a new phone-sized context (375×812), signed in as `user`."""
        context = self.new_context(PHONE)
        self.log_in(user, context)
        return context.new_page()

    def horizontal_overflow(self, page: Any = None) -> int:
        """How many pixels the document is wider than the viewport (0: no sideways scrolling)."""
        return (page or self.page).evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )


def slugify(step: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")


@pytest.fixture
def web(request, browser, live_server, settings) -> Iterator[Session]:
    """A fresh browser context (desktop size) with one page, on the live server (also the public
    base URL of links the pages give out); the catalog's models are served by the fake upstream.
    Fails the test if a page threw a JavaScript error, logged a console error, got a 5xx, or
    failed to load a style, script or fetch."""
    request.getfixturevalue("gateway")
    settings.PUBLIC_BASE_URL = live_server.url
    session = Session(browser, live_server.url)
    session.context = session.new_context()
    session.page = session.context.new_page()
    yield session
    for context in session.contexts:
        context.close()
    assert not session.errors, "errors in the browser:\n" + "\n".join(session.errors)


@dataclass
class Customer:
    """A signed-up customer: the user, their workspace (on the catalog's default plan)."""

    user: User
    workspace: Workspace
    email: str
    password: str = PASSWORD

    def url(self, page: str = "") -> str:
        return f"/dashboard/w/{self.workspace.slug}/{page}"

    def key(self, name: str = "browser", scopes: list[str] | None = None) -> IssuedKey:
        return issue_key(self.workspace, name, scopes=scopes, created_by=self.user)


@pytest.fixture
def customer(request) -> Customer:
    """A customer who signed up (by the same service as the sign-up page), with the catalog's
    models on the fake upstream."""
    request.getfixturevalue("gateway")
    user, workspace = sign_up("ada@lovelace.test", PASSWORD, "Analytical Engines")
    return Customer(user, workspace, user.email)


def page_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def xfail_until_built(path: str, what: str) -> None:
    """Marks the running test xfail while the dashboard page at `path` does not exist yet (it is
    being built); once it does, the test runs in full and must pass."""
    if not page_exists(path):
        pytest.xfail(f"{what} ({path}) is not built yet")


def chat(base_url: str, key: IssuedKey, prompt: str = "Hello", **body: Any) -> requests.Response:
    """A real HTTP call to the gateway's OpenAI-style chat endpoint."""
    return requests.post(
        f"{base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key.secret if hasattr(key, 'secret') else key}"},
        json={"model": "llama3.2", "messages": [{"role": "user", "content": prompt}], **body},
        timeout=10,
    )


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Polls `check` until it returns something truthy (returned), or fails after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(interval)

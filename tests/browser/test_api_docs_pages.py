"""Swagger UI and Redoc work under the Content-Security-Policy (config/security.py): their
scripts, styles, icons and Redoc's search worker load from our own origin, the page fails on any
console error (a CSP violation is one), and Swagger's "Try it out" reaches the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drf_spectacular.settings import patched_settings

from .conftest import expect


@pytest.fixture
def served_here(live_server) -> Iterator[None]:
    """The document's server is the live server (PUBLIC_BASE_URL, read once at start-up)."""
    with patched_settings({"SERVERS": [{"url": live_server.url}]}):
        yield


def test_it_shows_and_runs_swagger_ui_under_the_csp(web, customer, served_here) -> None:
    page = web.page
    response = web.goto("/api/v1/docs", "api-docs-1-swagger")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    health = page.locator("#operations-health-api_v1_health_retrieve")
    expect(health).to_be_visible()

    health.locator(".opblock-summary").click()  # "Try it out" on a public operation
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(
        health.locator(".live-responses-table tr.response .response-col_status").first
    ).to_have_text("200")
    web.shot("api-docs-2-swagger-try-it-out")


def test_it_shows_redoc_under_the_csp(web, customer) -> None:
    page = web.page
    web.goto("/api/v1/redoc", "api-docs-3-redoc")
    expect(page.get_by_role("heading", name="Tollgate API", exact=False).first).to_be_visible()
    page.get_by_placeholder("Search...").fill("chat")  # the search worker (a blob: URL)
    expect(
        page.locator("[role=search] li, .search-result, [data-role='search:result']").first
    ).to_be_visible()
    web.shot("api-docs-4-redoc-search")

"""With DEBUG on (`make run`), a missing page is the branded 404, not Django's yellow debug page,
unless a developer asks for that one (DEBUG_404=1). The API's 404s stay JSON."""

from __future__ import annotations

import pytest


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    settings.DEBUG_404 = False
    return settings


def test_it_answers_the_branded_404_with_debug_on(client, debug, owner) -> None:
    for path in ("/no-such-page/", "/dashboard/w/no-such-workspace/"):
        client.force_login(owner.user)
        response = client.get(path)
        assert response.status_code == 404
        html = response.content.decode()
        assert "Not found" in html and "Go to your dashboard" in html, path
        assert "DEBUG = True" not in html and "URLconf" not in html, path


def test_it_shows_the_debug_page_when_a_developer_asks(client, debug) -> None:
    debug.DEBUG_404 = True
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"DEBUG = True" in response.content


def test_it_keeps_the_apis_404_json(client, debug) -> None:
    response = client.get("/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")

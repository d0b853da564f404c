"""Security headers on every response (config/security.py and Django's SecurityMiddleware): a
dashboard page, an API answer, the admin, Swagger UI and a static file. Pages may run only our
own scripts; anything else may load nothing. (tests/browser/test_api_docs_pages.py shows Swagger
UI and Redoc working under the policy; tests/test_settings.py the deployment checks.)"""

from __future__ import annotations

import re

import pytest

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def assert_common_headers(response) -> None:
    for name, value in COMMON.items():
        assert response.get(name) == value, (name, response.get(name))


def assert_page_policy(response) -> None:
    assert_common_headers(response)
    policy = directives(response)
    assert policy["script-src"] == "'self'"  # no inline script, no other origin
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"


def inline_scripts(html: str) -> list[str]:
    return [tag for tag in re.findall(r"<script[^>]*>", html) if "src=" not in tag]


def test_it_sends_them_on_a_dashboard_page(client, owner) -> None:
    client.force_login(owner.user)
    response = client.get(f"/dashboard/w/{owner.workspace.slug}/")
    assert response.status_code == 200
    assert_page_policy(response)
    assert inline_scripts(response.content.decode()) == []


def test_it_sends_them_on_the_account_pages_and_the_admin(client, db) -> None:
    for url in ("/accounts/login/", "/admin/login/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_page_policy(response)


@pytest.mark.parametrize("url", ["/api/v1/models", "/v1/models", "/api/v1/nowhere"])
def test_it_sends_them_on_api_answers_which_may_load_nothing(client, key_a, url) -> None:
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key_a.secret}")
    assert response["Content-Type"].startswith("application/json")
    assert_common_headers(response)
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_it_sends_them_on_a_refused_call_and_a_static_file(client, db) -> None:
    refused = client.get("/v1/models")
    assert refused.status_code == 401
    assert_common_headers(refused)

    static = client.get("/static/css/app.css")
    assert static.status_code == 200
    assert_common_headers(static)
    assert static["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("url", ["/api/v1/docs", "/documentation/swagger"])
def test_it_serves_swagger_ui_with_its_start_script_as_a_file(client, db, url) -> None:
    page = client.get(url)
    assert page.status_code == 200
    assert_page_policy(page)
    html = page.content.decode()
    assert inline_scripts(html) == []
    start = re.findall(r'<script src="([^"]+script=[^"]*)"', html)
    assert len(start) == 1
    script = client.get(start[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_it_lets_redoc_show_only_its_logo_from_elsewhere(client, db) -> None:
    response = client.get("/api/v1/redoc")
    assert_page_policy(response)
    assert directives(response)["img-src"] == (
        "'self' data: https://cdn.redoc.ly/redoc/logo-mini.svg"
    )
    assert "fonts.googleapis.com" not in response.content.decode()

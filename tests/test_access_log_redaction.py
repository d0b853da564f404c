"""The access log's redaction, atom by atom: parameter names and values are judged after
percent-decoding, and gunicorn's environ/response-header atoms that may hold a credential are
written as [redacted]."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from config.access_log import RedactingLogger, redact_query

KEY = "sk-tg-abcdefghijklmnop"


@pytest.mark.parametrize(
    "query",
    [
        "authorization=Bearer%20sk-tg-abcdefghijklmnop",
        "Authorization=Bearer+abc",
        "API%5FKEY=abc",
        "x-api-key=abc",
        "client_secret=abc",
        "refresh_token=abc",
        "Access_Token=abc",
        "PASSWORD=hunter2",
        "q=sk%2Dtg%2Dabcdefghijklmnop",
    ],
)
def test_it_redacts_secret_parameters_however_encoded(query: str) -> None:
    name = query.partition("=")[0]
    assert redact_query(f"limit=5&{query}") == f"limit=5&{name}=[redacted]"


def test_it_keeps_ordinary_parameters() -> None:
    assert redact_query("limit=5&after=model%201") == "limit=5&after=model%201"


def test_it_redacts_environ_and_response_header_atoms_that_may_hold_secrets() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/v1/models?api_key={KEY}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/v1/models",
        "QUERY_STRING": f"api_key={KEY}",
        "HTTP_AUTHORIZATION": f"Bearer {KEY}",
        "HTTP_COOKIE": "sessionid=abc",
        "HTTP_X_API_KEY": KEY,
        "HTTP_USER_AGENT": "curl/8",
    }
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[("Set-Cookie", "sessionid=abc")])
    req = SimpleNamespace(headers=[("AUTHORIZATION", f"Bearer {KEY}")])
    atoms = RedactingLogger(Config()).atoms(resp, req, environ, timedelta(seconds=1))

    assert not [name for name, value in atoms.items() if KEY in str(value)]
    for name in ("{http_authorization}e", "{http_cookie}e", "{query_string}e", "{set-cookie}o"):
        assert atoms[name] == "[redacted]"
    assert atoms["{http_x_api_key}e"] == "[redacted]"
    assert atoms["{raw_uri}e"] == "/v1/models?api_key=[redacted]"
    assert atoms["{http_user_agent}e"] == "curl/8"
    assert atoms["{path_info}e"] == "/v1/models"

"""Every endpoint has a body cap (config/limits.py): dashboard, account and admin forms and the
non-gateway APIs at REQUEST_MAX_BODY_BYTES, refused with 413 before the body is read, as an HTML
page or in the API's error shape; the gateway's own endpoints (agents among them) at
GATEWAY_MAX_BODY_BYTES; the dashboard's dataset upload at the dataset limit."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import create_workspace
from billing.models import Plan
from finetune.models import Dataset
from keys.models import ApiKey

from .conftest import PASSWORD, _user

LIMIT = 2000
OVER = "x" * (LIMIT + 1)


@pytest.fixture(autouse=True)
def small_caps(settings) -> None:
    settings.REQUEST_MAX_BODY_BYTES = LIMIT
    settings.GATEWAY_MAX_BODY_BYTES = LIMIT


def assert_page_413(response) -> None:
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "That was too large" in response.content.decode()  # templates/413.html


def assert_api_413(response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "message": f"Request body is larger than the limit of {LIMIT} bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }


def test_it_refuses_a_log_in_form_over_the_cap_and_takes_one_under_it(client, owner) -> None:
    big = client.post("/accounts/login/", {"email": owner.user.email, "password": OVER})
    assert_page_413(big)
    assert "_auth_user_id" not in client.session

    ok = client.post("/accounts/login/", {"email": owner.user.email, "password": PASSWORD})
    assert ok.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.user.pk)


def test_it_refuses_a_dashboard_form_over_the_cap_and_saves_nothing(client, owner) -> None:
    client.force_login(owner.user)
    url = f"/dashboard/w/{owner.workspace.slug}/keys/"
    keys = ApiKey.objects.count()

    assert_page_413(client.post(url, {"name": OVER}))
    assert ApiKey.objects.count() == keys


def test_it_refuses_an_admin_form_over_the_cap(client, db) -> None:
    assert_page_413(client.post("/admin/login/", {"username": "a@b.test", "password": OVER}))


def test_it_refuses_api_bodies_over_the_cap_in_the_api_error_shape(client, key_a) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key_a.secret}"}
    body = json.dumps({"code": OVER})
    assert_api_413(
        client.post("/api/v1/billing/redeem", body, content_type="application/json", **auth)
    )
    # A body on a GET is never read, and still refused when it is over the cap.
    assert_api_413(client.generic("GET", "/api/v1/usage", body, "application/json", **auth))
    assert client.get("/api/v1/usage", **auth).status_code == 200


def test_it_caps_the_agents_api_at_the_gateway_limit(client, key_a) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key_a.secret}"}
    body = json.dumps({"name": "big", "model": "llama3.2", "systemPrompt": OVER})

    response = client.post("/api/v1/agents", body, content_type="application/json", **auth)

    assert_api_413(response)


def test_it_lets_a_dataset_upload_past_the_form_cap_up_to_the_dataset_limit(
    client, catalog, settings
) -> None:
    user = _user("trainer@acme.test")
    workspace = create_workspace("Trainer", user, Plan.objects.get(code="chat_agent_train"))
    client.force_login(user)
    url = f"/dashboard/w/{workspace.slug}/finetune/"
    line = json.dumps({"prompt": "Where is my order?", "completion": "It ships tomorrow."})
    data = ("\n".join([line] * 60) + "\n").encode()
    assert len(data) > LIMIT
    upload = {"action": "upload", "title": "Orders"}

    response = client.post(url, {**upload, "file": SimpleUploadedFile("orders.jsonl", data)})
    assert response.status_code == 302, response.content
    assert Dataset.objects.get(workspace=workspace).title == "Orders"

    settings.FINETUNE_DATASET_MAX_BYTES = 1000  # the page's cap: that, plus the form's envelope
    big = data * 100
    assert len(big) > 1000 + 64 * 1024
    response = client.post(url, {**upload, "file": SimpleUploadedFile("big.jsonl", big)})
    assert_page_413(response)
    assert Dataset.objects.filter(workspace=workspace).count() == 1

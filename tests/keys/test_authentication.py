"""Every authentication outcome through a real endpoint, with real headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Plan, Subscription, SubscriptionStatus
from keys.services import issue_key, revoke_key

KEY_URL = "/api/v1/key"


class TrainOnlyView(APIView):
    required_scope = "chat_agent_train"

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("train-only", TrainOnlyView.as_view())]


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize(
    "headers",
    [
        lambda k: {"HTTP_AUTHORIZATION": f"Bearer {k}"},
        lambda k: {"HTTP_AUTHORIZATION": f"bearer   {k}"},
        lambda k: {"HTTP_X_API_KEY": k},
    ],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
def test_it_accepts_each_header_form(client, key_a, headers) -> None:
    response = client.get(KEY_URL, **headers(key_a.secret))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(key_a.key.pk)
    assert body["workspace"] == str(key_a.key.workspace_id)
    assert body["plan"] == "chat_agent"
    assert body["scopes"] == ["chat", "chat_agent"]


def test_it_reads_headers_case_insensitively_over_http(live_server, key_a) -> None:
    import requests

    for name in ("x-api-key", "X-API-KEY", "X-Api-Key"):
        response = requests.get(live_server.url + KEY_URL, headers={name: key_a.secret}, timeout=5)
        assert response.status_code == 200, name
    response = requests.get(
        live_server.url + KEY_URL, headers={"authorization": f"BEARER {key_a.secret}"}, timeout=5
    )
    assert response.status_code == 200


def test_it_never_accepts_a_key_in_the_query_string(client, key_a) -> None:
    for param in ("api_key", "key", "access_token"):
        response = client.get(f"{KEY_URL}?{param}={key_a.secret}")
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"


def test_it_answers_401_for_a_missing_key(client, db) -> None:
    response = client.get(KEY_URL)
    assert response.status_code == 401
    error = error_of(response)
    assert error == {
        "message": "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_it_answers_401_for_an_unknown_key(client, db, django_assert_max_num_queries) -> None:
    from keys import secrets

    with django_assert_max_num_queries(1):
        response = client.get(KEY_URL, HTTP_AUTHORIZATION=f"Bearer {secrets.generate()}")
    assert response.status_code == 401
    assert error_of(response) == {
        "message": "Invalid API key.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_it_answers_401_for_a_malformed_key_without_a_query(
    client, db, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        response = client.get(KEY_URL, HTTP_AUTHORIZATION="Bearer sk-tg-not-a-real-key")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


def test_it_answers_401_for_a_revoked_key(client, key_a) -> None:
    revoke_key(key_a.key)
    response = client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 401
    assert error_of(response) == {
        "message": "This API key has been revoked.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_it_answers_401_once_a_key_expires(client, owner) -> None:
    issued = issue_key(owner.workspace, "short", expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(KEY_URL, HTTP_X_API_KEY=issued.secret).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = client.get(KEY_URL, HTTP_X_API_KEY=issued.secret)
    assert response.status_code == 401
    assert error_of(response)["message"] == "This API key has expired."


@pytest.mark.parametrize("status", [SubscriptionStatus.CANCELLED, SubscriptionStatus.PAST_DUE])
def test_it_answers_403_without_an_active_subscription(client, key_a, status) -> None:
    Subscription.objects.filter(workspace=key_a.key.workspace).update(status=status)
    # A queryset update sends no signal; the plan-change path is covered below.
    from keys.authentication import forget_all_keys

    forget_all_keys()
    response = client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 403
    assert error_of(response) == {
        "message": "The workspace of this API key has no active subscription.",
        "type": "permission_error",
        "param": None,
        "code": "no_active_subscription",
    }


def test_it_sees_a_cancelled_subscription_saved_through_the_orm(client, key_a) -> None:
    assert client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret).status_code == 200
    subscription = Subscription.objects.get(workspace=key_a.key.workspace)
    subscription.status = SubscriptionStatus.CANCELLED
    subscription.save()
    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        response = client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 403


@pytest.mark.urls(__name__)
def test_it_answers_403_for_a_key_without_the_scope(client, key_a) -> None:
    response = client.get("/train-only", HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 403
    assert error_of(response) == {
        "message": "This API key lacks the 'chat_agent_train' scope required by this endpoint.",
        "type": "permission_error",
        "param": None,
        "code": "insufficient_scope",
    }


@pytest.mark.urls(__name__)
def test_it_grants_the_scope_when_plan_and_key_have_it(client, owner) -> None:
    owner.workspace.subscription.plan = Plan.objects.get(code="chat_agent_train")
    owner.workspace.subscription.save()
    issued = issue_key(owner.workspace, "trainer", scopes=["chat", "chat_agent_train"])
    assert client.get("/train-only", HTTP_X_API_KEY=issued.secret).status_code == 200
    narrow = issue_key(owner.workspace, "chat only", scopes=["chat"])
    assert client.get("/train-only", HTTP_X_API_KEY=narrow.secret).status_code == 403


@pytest.mark.urls(__name__)
def test_it_cuts_key_scopes_to_a_downgraded_plan(client, owner) -> None:
    subscription = owner.workspace.subscription
    subscription.plan = Plan.objects.get(code="chat_agent_train")
    subscription.save()
    issued = issue_key(owner.workspace, "trainer", scopes=["chat", "chat_agent_train"])
    assert client.get("/train-only", HTTP_X_API_KEY=issued.secret).status_code == 200
    subscription.plan = Plan.objects.get(code="paid_chat")
    subscription.save()
    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        response = client.get("/train-only", HTTP_X_API_KEY=issued.secret)
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"


def test_it_costs_no_query_for_a_valid_key_once_cached(
    client, key_a, django_assert_num_queries
) -> None:
    assert client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret).status_code == 200
    with django_assert_num_queries(0):
        for _ in range(5):
            assert client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret).status_code == 200


def test_it_writes_last_used_at_at_most_once_a_minute(
    client, key_a, django_assert_num_queries
) -> None:
    from keys.models import ApiKey

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    first = ApiKey.objects.get(pk=key_a.key.pk).last_used_at
    assert first == start
    half_a_minute = time_machine.travel(start + timedelta(seconds=30), tick=False)
    with half_a_minute, django_assert_num_queries(0):
        client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    assert ApiKey.objects.get(pk=key_a.key.pk).last_used_at == first
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get(KEY_URL, HTTP_X_API_KEY=key_a.secret)
    assert ApiKey.objects.get(pk=key_a.key.pk).last_used_at == start + timedelta(seconds=61)

"""GET /api/v1/quota: every limit of the caller's plan read from the live counters (Redis when
REDIS_URL is set, the in-process store otherwise), exact across window edges, and read-only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import Workspace
from accounts.services import create_workspace
from billing import limiter
from billing.models import Plan
from billing.quota import quota_snapshot
from billing.services import subscribe
from keys.authentication import authenticate_secret, resolver
from keys.principal import Principal
from keys.services import issue_key

from ..conftest import _user

QUOTA = "/api/v1/quota"
WED = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Jakarta (off-peak)
WEEK_END = "2026-11-22T17:00:00Z"  # Monday 23 November 00:00 in Jakarta
PERIOD_END = "2026-12-18T03:00:00Z"  # a month after the subscription started (at WED)
ALL_LIMITS = {
    "requests_per_5h": 10,
    "requests_per_week": 20,
    "rpm": 5,
    "tpm": 1000,
    "max_concurrency": 4,
    "monthly_credits": 50,
}


def key_on(rpm_limit: int | None = None, **limits) -> tuple[Principal, str]:
    """A fresh workspace on a plan with these limits, and one key of it (principal, secret)."""
    plan = Plan.objects.create(
        code=f"p{Plan.objects.count()}", name="Test", scopes=["chat"], **limits
    )
    workspace = create_workspace("Limits", _user(f"l{Plan.objects.count()}@x.test"), plan)
    subscribe(workspace, plan)
    resolver.clear()
    secret = issue_key(workspace, "k", rpm_limit=rpm_limit).secret
    return authenticate_secret(secret), secret


def admit(principal: Principal, *, offpeak: int = 1, peak: int = 1) -> limiter.Admission:
    return limiter.admit(
        principal, f"call-{uuid.uuid4().hex}", units_offpeak=offpeak, units_peak=peak,
        endpoint="chat",  # chat costs 1 credit
    )  # fmt: skip


def quota(client, secret: str) -> dict:
    response = client.get(QUOTA, HTTP_X_API_KEY=secret)
    assert response.status_code == 200, response.content
    return response.json()


def limit(value, used, remaining, resets_at=None) -> dict:
    return {"limit": value, "used": used, "remaining": remaining, "resets_at": resets_at}


def at(seconds: float) -> time_machine.travel:
    return time_machine.travel(WED + timedelta(seconds=seconds), tick=False)


def test_it_lists_every_limit_of_a_fresh_plan(client, catalog) -> None:
    with at(0):
        principal, secret = key_on(**ALL_LIMITS)
        assert quota(client, secret) == {
            "object": "quota",
            "plan": principal.plan.code,
            "limits": {
                "requests_per_5h": limit(10, 0, 10),
                "requests_per_week": limit(20, 0, 20, WEEK_END),
                "rpm": limit(5, 0, 5),
                "tpm": limit(1000, 0, 1000),
                "max_concurrency": limit(4, 0, 4),
                "monthly_credits": limit(50, 0, 50, PERIOD_END),
            },
        }


def test_it_counts_admitted_calls_and_frees_what_settles(client, catalog, settings) -> None:
    settings.LIMIT_LEASE_SECONDS = 300
    with at(0):
        principal, secret = key_on(**ALL_LIMITS)
    admissions = []
    for seconds in (0, 10, 20):
        with at(seconds):
            admissions.append(admit(principal))
    with at(30):
        assert quota(client, secret)["limits"] == {
            "requests_per_5h": limit(10, 3, 7, "2026-11-18T08:00:00Z"),  # first call + 5 h
            "requests_per_week": limit(20, 3, 17, WEEK_END),
            "rpm": limit(5, 3, 2, "2026-11-18T03:01:00Z"),  # first call + 60 s
            "tpm": limit(1000, 0, 1000),
            "max_concurrency": limit(4, 3, 1),
            "monthly_credits": limit(50, 3, 47, PERIOD_END),
        }
    with at(40):
        limiter.settle(admissions[0], tokens=120, succeeded=True)
        limiter.settle(admissions[1], tokens=0, succeeded=False)  # gives its quota back
    with at(45):
        assert quota(client, secret)["limits"] == {
            "requests_per_5h": limit(10, 2, 8, "2026-11-18T08:00:00Z"),
            "requests_per_week": limit(20, 2, 18, WEEK_END),
            "rpm": limit(5, 3, 2, "2026-11-18T03:01:00Z"),  # a failed call was still a request
            "tpm": limit(1000, 120, 880, "2026-11-18T03:01:40Z"),  # settled at 40 s + 60 s
            "max_concurrency": limit(4, 1, 3),
            "monthly_credits": limit(50, 2, 48, PERIOD_END),
        }
    with at(65):  # the first request has left the minute; the tokens have not
        limits = quota(client, secret)["limits"]
        assert limits["rpm"] == limit(5, 2, 3, "2026-11-18T03:01:10Z")
        assert limits["tpm"] == limit(1000, 120, 880, "2026-11-18T03:01:40Z")
    with at(101):
        assert quota(client, secret)["limits"]["tpm"] == limit(1000, 0, 1000)
    with at(321):  # the unsettled call's lease (admitted at 20 s, 300 s) has run out
        assert quota(client, secret)["limits"]["max_concurrency"] == limit(4, 0, 4)
    with at(5 * 3600 + 1):  # the first call has left the 5 hours
        assert quota(client, secret)["limits"]["requests_per_5h"] == limit(
            10,
            1,
            9,
            "2026-11-18T08:00:20Z",  # the failed call gave its unit back: the third's
        )


def test_it_changes_nothing_when_read(client, catalog) -> None:
    with at(0):
        principal, secret = key_on(**ALL_LIMITS)
    for seconds in (0, 10, 20):
        with at(seconds):
            admit(principal)
    week_id, _ = limiter.week_bounds(WED)
    keys = limiter.counter_keys(principal, week_id, int(WED.timestamp()))  # the period began at WED
    store = limiter.store()

    def state() -> list:
        return [
            store.zrange(key, 0, -1, withscores=True) if store.type(key) == b"zset" else store.get(key)
            for key in keys
        ]  # fmt: skip

    with at(30):
        before = state()
        first, second = quota(client, secret), quota(client, secret)
        assert first == second
        assert first["limits"]["rpm"] == limit(5, 3, 2, "2026-11-18T03:01:00Z")
    with at(100):  # every request has left the minute: not counted, and not removed either
        assert quota(client, secret)["limits"]["rpm"] == limit(5, 0, 5)
        assert store.zcard(keys[3]) == 3
    with at(30):
        assert state() == before
        assert quota(client, secret) == first
        assert quota_snapshot(principal) == first


def test_it_lists_unlimited_limits_as_null_and_still_counts(client, catalog) -> None:
    with at(0):
        principal, secret = key_on()
        admit(principal)
        assert quota(client, secret) == {
            "object": "quota",
            "plan": principal.plan.code,
            "limits": {
                "requests_per_5h": limit(None, 1, None, "2026-11-18T08:00:00Z"),
                "requests_per_week": limit(None, 1, None, WEEK_END),
                "rpm": limit(None, 1, None, "2026-11-18T03:01:00Z"),
                "tpm": limit(None, 0, None),
                "max_concurrency": limit(None, 1, None),
                "monthly_credits": limit(None, 1, None, PERIOD_END),
            },
        }


def test_it_counts_quota_units_weighted_at_peak_hours(client, catalog) -> None:
    peak = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)  # 15:00 in Jakarta
    with time_machine.travel(peak, tick=False):
        principal, secret = key_on(requests_per_5h=10, requests_per_week=20)
        admit(principal, offpeak=1, peak=3)
        limits = quota(client, secret)["limits"]
    assert limits["requests_per_5h"] == limit(10, 3, 7, "2026-11-18T13:00:00Z")
    assert limits["requests_per_week"] == limit(20, 3, 17, WEEK_END)


def test_it_shows_the_keys_own_rpm_when_it_is_lower(client, catalog) -> None:
    with at(0):
        principal, secret = key_on(rpm_limit=3, rpm=10)
        workspace = Workspace.objects.get(pk=principal.workspace_id)
        other = authenticate_secret(issue_key(workspace, "other").secret)  # same workspace
        admit(principal)
        admit(other)
    with at(5):
        admit(principal)
        limits = quota(client, secret)["limits"]
    assert limits["rpm"] == limit(10, 3, 7, "2026-11-18T03:01:00Z")  # the workspace's
    assert limits["key_rpm"] == limit(3, 2, 1, "2026-11-18T03:01:00Z")  # this key's
    assert list(limits) == [
        "requests_per_5h",
        "requests_per_week",
        "rpm",
        "key_rpm",
        "tpm",
        "max_concurrency",
        "monthly_credits",
    ]


@pytest.mark.parametrize(("key_rpm", "plan_rpm"), [(None, 10), (10, 10), (20, 10)])
def test_it_leaves_out_a_key_rpm_that_lowers_nothing(client, catalog, key_rpm, plan_rpm) -> None:
    _principal, secret = key_on(rpm_limit=key_rpm, rpm=plan_rpm)
    assert "key_rpm" not in quota(client, secret)["limits"]


def test_it_shows_a_key_rpm_under_an_unlimited_plan_rpm(client, catalog) -> None:
    _principal, secret = key_on(rpm_limit=7)
    assert quota(client, secret)["limits"]["key_rpm"] == limit(7, 0, 7)


def test_it_shows_the_keys_monthly_cap_when_it_has_one(client, catalog) -> None:
    from keys.models import ApiKey

    with at(0):
        principal, secret = key_on(monthly_credits=50)
        assert "key_monthly_cap" not in quota(client, secret)["limits"]
        key = ApiKey.objects.get(pk=principal.key_id)
        key.monthly_cap = 3
        key.save()  # (drops the key's cached authentication)
        principal = authenticate_secret(secret)
        admit(principal)
        limits = quota(client, secret)["limits"]
    assert limits["key_monthly_cap"] == limit(3, 1, 2, PERIOD_END)
    assert limits["monthly_credits"] == limit(50, 1, 49, PERIOD_END)


def test_it_shows_only_the_callers_workspace(client, catalog) -> None:
    with at(0):
        busy, _ = key_on(**ALL_LIMITS)
        _idle, idle_secret = key_on(**ALL_LIMITS)
        for _ in range(3):
            admit(busy)
        limits = quota(client, idle_secret)["limits"]
    assert {name: entry["used"] for name, entry in limits.items()} == dict.fromkeys(limits, 0)


def test_it_needs_an_api_key(client, db) -> None:
    response = client.get(QUOTA)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"

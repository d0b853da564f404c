"""Every limit exact: under real threads, across window edges (time_machine), on Redis when
REDIS_URL is set and on the in-process store otherwise (the same Lua runs on both), and each test
again with Redis unreachable (per-process counters, credits by conditional UPDATE in the
database: billing/fallback.py)."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from accounts.services import create_workspace
from billing import limiter
from billing.models import Plan
from billing.services import catalog_settings, subscribe
from keys.authentication import authenticate_secret, resolver
from keys.models import ApiKey
from keys.services import issue_key

from ..conftest import _user

JAKARTA_13_59 = datetime(2026, 11, 18, 6, 59, tzinfo=UTC)  # Wednesday 13:59 WIB


@pytest.fixture(autouse=True, params=["live", "redis_unreachable"])
def counters(request) -> str:
    if request.param == "redis_unreachable":
        request.getfixturevalue("redis_unreachable")
        # Credits in PostgreSQL: the single-host mode (tests/proxy/test_split_brain.py has
        # the default, which refuses calls that spend money while Redis is unreachable).
        request.getfixturevalue("settings").LIMITS_OUTAGE_MONEY = "database"
    return request.param


def principal_on(**limits):
    plan = Plan.objects.create(
        code=f"p{Plan.objects.count()}", name="Test", scopes=["chat"], **limits
    )
    workspace = create_workspace("Limits", _user(f"l{Plan.objects.count()}@x.test"), plan)
    subscribe(workspace, plan)
    resolver.clear()
    return authenticate_secret(issue_key(workspace, "k").secret)


def admit(principal, n=1, *, offpeak=1, peak=1, endpoint="chat"):
    return limiter.admit(
        principal, f"call-{n}-{uuid.uuid4().hex}",
        units_offpeak=offpeak, units_peak=peak, endpoint=endpoint,
    )  # fmt: skip


def refused(principal, **kwargs) -> limiter.LimitExceeded:
    with pytest.raises(limiter.LimitExceeded) as caught:
        admit(principal, **kwargs)
    return caught.value


def race(principal, callers: int, **kwargs) -> tuple[list, list]:
    """`callers` threads admitted at the same instant (no database access in the threads)."""
    catalog_settings()  # warm the cache: the threads must not need the database
    limiter.prepare(principal)
    admitted, refusals, barrier = [], [], threading.Barrier(callers)

    def one(index: int) -> None:
        barrier.wait()
        try:
            admitted.append(admit(principal, index, **kwargs))
        except limiter.LimitExceeded as exc:
            refusals.append(exc)
        finally:
            connection.close()  # with Redis down, credits are taken in the database

    threads = [threading.Thread(target=one, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return admitted, refusals


def test_it_lets_exactly_the_rpm_through_under_a_race(catalog) -> None:
    principal = principal_on(rpm=5)
    admitted, refusals = race(principal, 12)
    assert (len(admitted), len(refusals)) == (5, 7)
    assert {r.limit for r in refusals} == {"rpm"}
    assert all(1 <= r.retry_after <= 60 for r in refusals)
    assert refusals[0].headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.django_db(transaction=True)
def test_it_spends_monthly_credits_exactly_under_a_race(catalog, counters) -> None:
    if counters == "redis_unreachable" and not os.environ.get("DATABASE_URL"):
        pytest.skip("with Redis down, 50 threads take credits in the database: PostgreSQL")
    principal = principal_on(monthly_credits=10)
    admitted, refusals = race(principal, 50, endpoint="chat")  # chat costs 1 credit
    assert (len(admitted), len(refusals)) == (10, 40)
    assert {r.limit for r in refusals} == {"monthly_credits"}
    assert refusals[0].headers["X-Credits-Remaining"] == "0"
    assert all(a.degraded == (counters == "redis_unreachable") for a in admitted)


def test_it_gives_credits_and_quota_back_for_a_failed_call(catalog) -> None:
    principal = principal_on(monthly_credits=1, requests_per_5h=1)
    failed = admit(principal)
    limiter.settle(failed, tokens=0, succeeded=False)
    kept = admit(principal)
    limiter.settle(kept, tokens=10, succeeded=True)
    assert refused(principal).limit == "requests_per_5h"


def test_it_weighs_calls_more_at_peak_hours(catalog) -> None:
    principal = principal_on(requests_per_5h=10)
    with time_machine.travel(JAKARTA_13_59, tick=False):
        assert admit(principal, offpeak=2, peak=3).units == 2
        assert refused(principal, offpeak=9, peak=9).limit == "requests_per_5h"
    with time_machine.travel(JAKARTA_13_59 + timedelta(minutes=1), tick=False):  # 14:00 WIB
        admission = admit(principal, offpeak=2, peak=3)
        assert admission.units == 3
        assert admission.headers["X-RateLimit-Remaining-5h"] == "5"


def test_it_rolls_the_5_hour_window(catalog) -> None:
    principal = principal_on(requests_per_5h=3)
    start = JAKARTA_13_59 - timedelta(hours=5)
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            admit(principal)
        exceeded = refused(principal)
        assert exceeded.retry_after == 5 * 3600
    with time_machine.travel(start + timedelta(hours=4, minutes=59, seconds=59), tick=False):
        assert refused(principal).retry_after == 1
    with time_machine.travel(start + timedelta(hours=5, seconds=1), tick=False):
        admit(principal)


def test_it_resets_the_week_on_monday_at_midnight_in_jakarta(catalog) -> None:
    principal = principal_on(requests_per_week=2)
    sunday_late = datetime(2026, 11, 22, 16, 59, 30, tzinfo=UTC)  # Sunday 23:59:30 WIB
    with time_machine.travel(sunday_late, tick=False):
        admit(principal)
        admit(principal)
        exceeded = refused(principal)
        assert exceeded.limit == "requests_per_week"
        assert exceeded.retry_after == 30
    with time_machine.travel(
        datetime(2026, 11, 22, 17, 0, tzinfo=UTC), tick=False
    ):  # Mon 00:00 WIB
        admission = admit(principal)
        assert admission.headers["X-RateLimit-Remaining-Weekly"] == "1"


def test_it_caps_calls_in_flight_and_frees_them(catalog, settings) -> None:
    settings.LIMIT_LEASE_SECONDS = 60
    principal = principal_on(max_concurrency=2)
    start = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        first, _second = admit(principal, 1), admit(principal, 2)
        assert refused(principal).limit == "max_concurrency"
        limiter.settle(first, tokens=5, succeeded=True)  # completion frees a slot
        admit(principal, 3)
        assert refused(principal).limit == "max_concurrency"
    # A worker that died never settles: its lease runs out and the slot frees itself.
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        admit(principal, 4)
        admit(principal, 5)


def test_it_admits_exactly_the_concurrency_cap_under_a_race(catalog) -> None:
    principal = principal_on(max_concurrency=4)
    admitted, refusals = race(principal, 20)
    assert (len(admitted), len(refusals)) == (4, 16)


def test_it_counts_tokens_per_minute_once_calls_finish(catalog) -> None:
    principal = principal_on(tpm=100)
    start = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        limiter.settle(admit(principal), tokens=90, succeeded=True)
        limiter.settle(admit(principal), tokens=20, succeeded=True)  # 90 < 100 when admitted
        exceeded = refused(principal)
        assert exceeded.limit == "tpm"
        assert 1 <= exceeded.retry_after <= 60
        assert exceeded.headers["x-ratelimit-remaining-tokens"] == "0"
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        admit(principal)


def test_it_resets_monthly_credits_at_the_period_boundary(catalog) -> None:
    start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        principal = principal_on(monthly_credits=1)
        admit(principal)
        exceeded = refused(principal)
        assert exceeded.limit == "monthly_credits"
        period_end = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
        assert exceeded.retry_after == int((period_end - start).total_seconds())
    with time_machine.travel(datetime(2026, 2, 28, 9, 59, tzinfo=UTC), tick=False):
        assert refused(principal).limit == "monthly_credits"
    with time_machine.travel(datetime(2026, 2, 28, 10, 0, tzinfo=UTC), tick=False):
        admit(principal)
    with time_machine.travel(datetime(2026, 3, 31, 10, 0, tzinfo=UTC), tick=False):
        admit(principal)  # each month starts anew from the subscription's day


def test_it_follows_the_gateway_timezone_setting(catalog, settings) -> None:
    from billing.models import CatalogSetting
    from billing.services import forget_catalog_settings

    CatalogSetting.objects.filter(key="timezone").delete()
    forget_catalog_settings()
    settings.GATEWAY_TIMEZONE = "Europe/Berlin"
    _week_id, end = limiter.week_bounds(datetime(2026, 11, 22, 22, 59, tzinfo=UTC))  # Sun 23:59 CET
    assert end == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_it_understands_peak_hours_across_midnight(catalog) -> None:
    from billing.models import CatalogSetting
    from billing.services import forget_catalog_settings

    CatalogSetting.objects.update_or_create(key="peak_hours", defaults={"value": "22:00-02:00"})
    forget_catalog_settings()
    wib = lambda h, m: datetime(2026, 11, 18, h, m, tzinfo=UTC) - timedelta(hours=7)  # noqa: E731
    assert limiter.is_peak(wib(23, 0)) and limiter.is_peak(wib(1, 59))
    assert not limiter.is_peak(wib(2, 0)) and not limiter.is_peak(wib(21, 59))


def record_usage(principal, started: datetime, *, credits: int = 0, units: int = 0) -> None:
    from billing.models import UsageRecord

    UsageRecord.objects.create(
        call_id=uuid.uuid4().hex, request_id="r", workspace_id=principal.workspace_id,
        key_id=principal.key_id or None, endpoint="chat", dialect="openai", status=200, credits=credits, quota_units=units,
        started_at=started, finished_at=started,
    )  # fmt: skip


def test_it_rebuilds_lost_counters_from_the_usage_records(catalog) -> None:
    """Redis lost everything (the test starts with an empty store): what PostgreSQL recorded
    still counts against the month, the week and the 5-hour window."""
    start = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    with time_machine.travel(start - timedelta(days=2), tick=False):  # the period began then
        principal = principal_on(monthly_credits=10, requests_per_5h=5)
    with time_machine.travel(start, tick=False):
        record_usage(principal, start - timedelta(hours=1), credits=4, units=2)
        record_usage(principal, start - timedelta(hours=6), credits=4, units=2)  # out of 5 h
        admission = admit(principal)  # credits 8 + 1, units 2 + 1
        assert admission.headers["X-Credits-Remaining"] == "1"
        assert admission.headers["X-RateLimit-Remaining-5h"] == "2"
        admit(principal)
        assert refused(principal).limit == "monthly_credits"


# --- a key's monthly cap, set by the customer ---------------------------------------------------


def capped_keys(cap: int, **limits) -> tuple:
    """Two keys of one workspace: the first with a monthly cap of `cap` credits, the other none."""
    capped = principal_on(**limits)
    workspace = ApiKey.objects.get(pk=capped.key_id).workspace
    ApiKey.objects.filter(pk=capped.key_id).update(monthly_cap=cap)
    other = issue_key(workspace, "uncapped")
    resolver.clear()
    return authenticate_secret_of(capped.key_id), authenticate_secret(other.secret)


def authenticate_secret_of(key_id: str):
    from keys.authentication import principal_from_key

    return principal_from_key(ApiKey.objects.select_related("workspace").get(pk=key_id))


def test_it_refuses_the_call_that_would_cross_a_keys_cap_and_not_the_other_keys(catalog) -> None:
    capped, other = capped_keys(2, monthly_credits=100)
    admit(capped)
    admit(capped)
    exceeded = refused(capped)
    assert exceeded.limit == "key_monthly_cap"
    assert exceeded.retry_after > 0
    assert admit(other).headers["X-Credits-Remaining"] == "97"  # the workspace's 100, less 3


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_keys_cap_exactly_under_a_race(catalog, counters) -> None:
    if counters == "redis_unreachable" and not os.environ.get("DATABASE_URL"):
        pytest.skip("with Redis down, 30 threads take credits in the database: PostgreSQL")
    capped, _ = capped_keys(7, monthly_credits=100)
    admitted, refusals = race(capped, 30)
    assert (len(admitted), len(refusals)) == (7, 23)
    assert {r.limit for r in refusals} == {"key_monthly_cap"}


def test_it_gives_a_failed_call_back_to_the_keys_cap(catalog) -> None:
    capped, _ = capped_keys(1)
    failed = admit(capped)
    limiter.settle(failed, tokens=0, succeeded=False)
    kept = admit(capped)
    limiter.settle(kept, tokens=10, succeeded=True)
    assert refused(capped).limit == "key_monthly_cap"


def test_it_resets_a_keys_cap_with_the_monthly_period(catalog) -> None:
    start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        capped, _ = capped_keys(1, monthly_credits=100)
        admit(capped)
        exceeded = refused(capped)
        assert exceeded.limit == "key_monthly_cap"
        period_end = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
        assert exceeded.retry_after == int((period_end - start).total_seconds())
    with time_machine.travel(datetime(2026, 2, 28, 9, 59, tzinfo=UTC), tick=False):
        assert refused(capped).limit == "key_monthly_cap"
    with time_machine.travel(datetime(2026, 2, 28, 10, 0, tzinfo=UTC), tick=False):
        admit(capped)


def test_it_counts_what_a_key_spent_before_redis_lost_it(catalog) -> None:
    start = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    with time_machine.travel(start - timedelta(days=2), tick=False):
        capped, other = capped_keys(5)
    with time_machine.travel(start, tick=False):
        record_usage(capped, start - timedelta(hours=1), credits=4)
        record_usage(other, start - timedelta(hours=1), credits=40)  # another key's
        admit(capped)
        assert refused(capped).limit == "key_monthly_cap"

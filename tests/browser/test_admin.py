"""An operator lowers a plan's requests per minute in Django admin; the gateway enforces it."""

from __future__ import annotations

import re

from accounts.models import User
from billing.models import Plan

from ..conftest import PASSWORD
from .conftest import chat, expect, wait_until


def test_an_operator_lowers_a_plans_rpm_and_the_gateway_enforces_it(
    web, customer, live_server
) -> None:
    key = customer.key("rpm")
    User.objects.create_superuser(email="ops@tollgate.test", password=PASSWORD)
    page = web.page

    web.goto("/admin/login/", "admin-1-login")
    page.get_by_label("Email").fill("ops@tollgate.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    web.shot("admin-2-index")

    web.goto("/admin/billing/plan/", "admin-3-plans")
    page.get_by_role("link", name="trial_chat", exact=True).click()
    rpm = page.get_by_label("Requests per minute")
    expect(rpm).to_have_value("10")
    rpm.fill("2")
    web.shot("admin-4-plan-rpm-2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    web.shot("admin-5-plan-saved")
    assert Plan.objects.get(code="trial_chat").rpm == 2

    # Cached authentications carry the plan's limits for up to API_KEY_LOCAL_CACHE_SECONDS:
    # call until refused. Under the new limit two calls pass and the third within the minute
    # is refused.
    answers = []

    def refused() -> bool:
        answers.append(chat(live_server.url, key, f"call {len(answers) + 1}"))
        return answers[-1].status_code == 429

    wait_until(refused, timeout=8, interval=0.2)
    last = answers[-1]
    assert last.json()["error"]["code"] == "rate_limit_exceeded", last.text
    passed = [a for a in answers[:-1] if a.headers.get("x-ratelimit-limit-requests") == "2"]
    statuses = [(a.status_code, a.headers.get("x-ratelimit-limit-requests")) for a in answers]
    assert [a.status_code for a in passed] == [200, 200], statuses
    assert [a.headers["x-ratelimit-remaining-requests"] for a in passed] == ["1", "0"], statuses

    web.goto("/admin/status/", "admin-6-status-charts")
    chart = page.locator('#status-charts [data-upstream="fake-ollama"] figure.chart')
    expect(chart.locator("rect").first).to_be_visible()
    expect(chart.locator(".legend")).to_contain_text("answered")

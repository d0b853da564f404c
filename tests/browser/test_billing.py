"""The billing page as a customer sees it: plans by family with theirs marked, a plan request
that reaches the operator, the ledger in words; and the usage alert's banner."""

from __future__ import annotations

from accounts.models import PlanRequest
from billing.models import Plan

from ..billing.test_dashboard_usage import record
from .conftest import expect


def test_it_requests_another_plan_from_the_plan_cards(web, customer) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("billing/"), "billing-1-plans")

    mine = page.get_by_role("article", name="Trial plan")
    expect(mine).to_contain_text("your plan")
    expect(page.get_by_role("heading", name="Request plans")).to_be_visible()
    expect(page.get_by_text("contact sales")).to_have_count(0)
    expect(page.get_by_role("heading", name="Prepaid balance")).to_have_count(0)

    builder = page.get_by_role("article", name="Builder plan")
    builder.get_by_text("Request this plan").click()
    builder.get_by_label("Message to the operator").fill("We want agents")
    builder.get_by_role("button", name="Send request").click()

    expect(
        page.get_by_text("Your request for the Builder plan has reached the operator")
    ).to_be_visible()
    expect(page.get_by_role("article", name="Builder plan")).to_contain_text("Requested")
    web.shot("billing-2-requested")
    assert PlanRequest.objects.get().message == "We want agents"

    phone = web.phone(customer.user)
    web.goto(customer.url("billing/"), "billing-3-phone", page=phone)
    assert web.horizontal_overflow(phone) == 0, "the billing page scrolls sideways on a phone"
    tabs = phone.get_by_role("navigation", name="Workspace")
    assert tabs.evaluate("e => e.scrollWidth > e.clientWidth")  # the tab bar scrolls …
    expect(tabs.get_by_role("link", name="Billing")).to_be_in_viewport()  # … to this page's tab


def test_it_warns_on_every_page_at_80_percent_of_the_credits(web, customer) -> None:
    plan = Plan.objects.get(code="trial_chat")
    plan.monthly_credits = 10
    plan.save()
    start = customer.workspace.subscription.current_period_start
    record(customer.workspace, None, start.replace(tzinfo=None).isoformat(), credits=9)
    page = web.page
    web.log_in(customer.user)

    for path, step in (("", "alert-1-overview"), ("usage/", "alert-2-usage")):
        web.goto(customer.url(path), step)
        banner = page.locator(".usage-alert")
        expect(banner).to_contain_text("90 % used.")
        expect(banner.get_by_role("link", name="Billing")).to_be_visible()

"""After a call through the gateway, the overview's quota meters and the usage page show it."""

from __future__ import annotations

import re

import pytest

from billing.models import UsageRecord

from .conftest import chat, expect


@pytest.fixture
def one_call(customer, live_server):
    """One chat call, over HTTP, with a key named "meter"."""
    key = customer.key("meter")
    response = chat(live_server.url, key, "How full is my quota?")
    assert response.status_code == 200, response.text
    return UsageRecord.objects.get(workspace=customer.workspace)


def test_it_shows_the_call_on_the_usage_page(web, customer, one_call) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("usage/"), "usage-1-one-call")

    rows = page.get_by_role("region", name="Usage records").locator("tbody tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("llama3.2")
    expect(row).to_contain_text("meter")  # the key's name
    expect(row).to_contain_text("200")
    expect(row).to_contain_text(f"{one_call.prompt_tokens} / {one_call.completion_tokens}")


def meter(page, limit: str):
    return page.locator(f'.meter[data-limit="{limit}"]')


def test_it_shows_the_call_in_the_overviews_quota_meters(web, customer, one_call) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url(), "overview-1-meters-after-one-call")
    if page.locator(".meter").count() == 0:
        pytest.xfail("the overview's quota meters (.meter) are not built yet")

    shown = set(page.locator(".meter").evaluate_all("els => els.map(e => e.dataset.limit)"))
    assert {"rpm", "credits"} <= shown, shown  # trial_chat: 10 rpm, 15,000 credits a month
    assert not shown & {"5h", "week", "balance"}, shown  # limits the plan does not have
    # used / limit: one request this minute of 10, one credit of 15,000
    expect(meter(page, "rpm")).to_contain_text(re.compile(r"\b1\b\D+\b10\b"))
    expect(meter(page, "credits")).to_contain_text(re.compile(r"\b1\b\D+\b15[,.\s ]?000\b"))

    phone = web.phone(customer.user)
    web.goto(customer.url(), "overview-2-meters-phone", page=phone)
    expect(meter(phone, "rpm")).to_be_visible()


def test_it_charts_the_usage_and_labels_both_costs(web, customer, one_call) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("usage/"), "usage-2-charts")

    charts = page.locator("figure.chart")
    titles = charts.locator("figcaption").all_inner_texts()
    assert titles == [
        "Requests", "Tokens", "Credits", "Cost at list price", "Errors",
        "Latency of answered calls",
    ], titles  # fmt: skip
    expect(charts.first.locator("rect")).to_have_count(1)
    expect(charts.first.locator(".chart-y span").first).to_have_text("2")
    expect(charts.first.locator(".legend")).to_contain_text("llama3.2")
    expect(page.get_by_text("At list price", exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Charged")).to_be_visible()
    row = page.get_by_role("region", name="Usage records").locator("tbody tr").first
    expect(row).to_contain_text("Chat completions")

    page.get_by_label("Charts by").select_option("key")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Per day, by API key")).to_be_visible()
    expect(charts.first.locator(".legend")).to_contain_text("meter")

    phone = web.phone(customer.user)
    web.goto(customer.url("usage/"), "usage-3-phone", page=phone)
    expect(phone.locator("figure.chart svg").first).to_be_visible()
    assert web.horizontal_overflow(phone) == 0, "the usage page scrolls sideways on a phone"

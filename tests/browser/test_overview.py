"""The overview of a new workspace: the demo notice, the first call to copy with the user's base
URL, a "Create API key" button that leads to the form; after a call, charts with a y-axis."""

from __future__ import annotations

from .conftest import chat, expect


def test_it_shows_a_new_workspace_how_to_make_its_first_call(web, customer, live_server) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url(), "overview-new-1-first-call")

    expect(page.get_by_role("note")).to_contain_text("placeholder words")
    first = page.get_by_role("region", name="Make your first call")
    expect(first).to_contain_text(f"curl {live_server.url}/v1/chat/completions")
    expect(page.locator("text=(none)")).to_have_count(0)
    expect(page.get_by_text("The Trial plan")).to_be_visible()
    expect(page.get_by_text("trial_chat")).to_have_count(0)

    first.get_by_role("link", name="Create API key").click()
    expect(page).to_have_url(f"{live_server.url}{customer.url('keys/')}#create")
    expect(page.get_by_role("button", name="Create key")).to_be_visible()

    phone = web.phone(customer.user)
    web.goto(customer.url(), "overview-new-2-phone", page=phone)
    assert web.horizontal_overflow(phone) == 0, "the overview scrolls sideways on a phone"


def test_it_charts_the_calls_with_a_y_axis(web, customer, live_server) -> None:
    key = customer.key("charts")
    for _ in range(3):
        assert chat(live_server.url, key, "Count me").status_code == 200
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url(), "overview-charts")

    expect(page.get_by_role("region", name="Make your first call")).to_have_count(0)
    requests = page.locator("figure.chart").first
    expect(requests.locator(".chart-y span")).to_have_text(["4", "2", "0"])
    expect(requests.locator("rect")).to_have_count(1)
    expect(requests.locator(".legend")).to_contain_text("llama3.2")

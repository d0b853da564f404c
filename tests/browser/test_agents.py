"""Agents page: create an agent (a bad tool schema is shown beside its field first), then try it
in the playground, where its system prompt reaches the model and the answer streams in."""

from __future__ import annotations

import re

from agents.models import Agent
from billing.models import Plan, UsageRecord
from billing.services import subscribe

from .conftest import expect, wait_until

BAD_TOOLS = '[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"id": {"type": "strin"}}}}}]'


def test_it_creates_an_agent_and_tries_it_in_the_playground(web, customer, upstream) -> None:
    subscribe(customer.workspace, Plan.objects.get(code="chat_agent"))
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("agents/"), "agents-1-empty")

    page.get_by_label("Name").fill("concierge")
    page.get_by_label("Model").select_option("llama3.2")
    page.get_by_label("System prompt").fill("You are the toll road concierge. Be brief.")
    page.get_by_label("Temperature").fill("0.4")
    page.get_by_label("Tools").fill(BAD_TOOLS)
    page.get_by_role("button", name="Create agent").click()
    tools_error = page.locator("#id_tools_error")
    expect(tools_error).to_contain_text("tools[0].function.parameters.properties.id.type")
    web.shot("agents-2-bad-tool")
    assert not Agent.objects.exists()

    page.get_by_label("Tools").fill("")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="concierge")).to_be_visible()
    web.shot("agents-3-created")

    page.get_by_role("link", name="Try it in the playground").click()
    page.wait_for_load_state("load")
    expect(page.locator("#playground-model")).to_have_value("agent:concierge")  # no key to paste
    page.locator("#playground-prompt").fill("Which exit for the airport?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#playground-cost")).to_contain_text(re.compile("token", re.IGNORECASE))
    web.shot("agents-4-tried")

    sent = upstream.requests[-1]["body"]
    assert sent["messages"][0] == {
        "role": "system",
        "content": "You are the toll road concierge. Be brief.",
    }
    assert sent["temperature"] == 0.4
    record = wait_until(lambda: UsageRecord.objects.filter(workspace=customer.workspace).first())
    assert (record.requested_model, record.status) == ("agent:concierge", 200)
    assert (record.dialect, record.key_id) == ("playground", None)


def test_it_shows_the_agents_pages_on_a_phone(web, customer) -> None:
    subscribe(customer.workspace, Plan.objects.get(code="chat_agent"))
    agent = Agent.objects.create(
        workspace=customer.workspace,
        name="night-shift-concierge",
        model="llama3.2",
        system_prompt="You answer drivers at night.",
        tools=[{"type": "function", "function": {"name": "open_barrier_for_lane_number"}}],
    )
    phone = web.phone(customer.user)
    web.goto(customer.url("agents/"), "agents-phone-list", page=phone)
    expect(phone.get_by_role("button", name="Create agent")).to_be_visible()
    assert web.horizontal_overflow(phone) == 0, "the agents page scrolls sideways on a phone"

    web.goto(customer.url(f"agents/{agent.pk}/"), "agents-phone-agent", page=phone)
    expect(phone.get_by_role("button", name="Save")).to_be_visible()
    assert web.horizontal_overflow(phone) == 0, "an agent's page scrolls sideways on a phone"

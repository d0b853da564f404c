"""The API keys page: create a key, read and copy its secret once, and the key works over HTTP."""

from __future__ import annotations

import re

import requests

from billing.models import Plan

from .conftest import expect

SECRET = re.compile(r"sk-tg-[0-9A-Za-z]{28}")


def test_it_creates_a_key_copies_it_and_the_key_calls_the_gateway(web, customer, live_server):
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("keys/"), "keys-1-none-yet")
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create key").click()

    shown = page.locator("#new-secret")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert SECRET.fullmatch(secret), secret
    copy = page.locator("[data-copy-target=new-secret]")
    expect(copy).to_have_accessible_name("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    web.shot("keys-2-created-and-copied")

    response = requests.get(
        f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    assert "llama3.2" in [model["id"] for model in response.json()["data"]]

    page.reload()  # after the redirect, a reload asks for the list again: no second key
    web.shot("keys-3-reloaded")
    expect(page.get_by_role("row").filter(has_text="laptop")).to_have_count(1)
    assert secret not in page.content(), "the secret is shown only once"
    web.goto(customer.url("keys/"), "keys-4-listed")
    row = page.get_by_role("row").filter(has_text="laptop")
    expect(row).to_contain_text("active")
    assert secret not in page.content(), "the secret is shown only once"


def test_it_gives_a_key_the_scopes_a_plan_upgrade_brought_from_its_row(web, customer) -> None:
    page = web.page
    customer.key("narrow", scopes=["chat"])
    subscription = customer.workspace.subscription
    subscription.plan = Plan.objects.get(code="chat_agent")  # the upgrade brings chat_agent
    subscription.save()
    web.log_in(customer.user)
    web.goto(customer.url("keys/"), "keys-scopes-1")
    row = page.get_by_role("row").filter(has_text="narrow")
    row.get_by_text("Edit scopes", exact=True).click()
    all_scopes = row.get_by_label("All of the plan's scopes")
    expect(row.get_by_label("chat_agent", exact=True)).to_be_enabled()
    all_scopes.check()
    expect(row.get_by_label("chat_agent", exact=True)).to_be_disabled()
    web.shot("keys-scopes-2-editing")
    row.get_by_role("button", name="Save scopes").click()

    expect(
        page.get_by_text("now has the scopes chat, chat_agent (all of the plan's)")
    ).to_be_visible()
    row = page.get_by_role("row").filter(has_text="narrow")
    expect(row).to_contain_text("chat_agent")
    expect(row).to_contain_text("all of the plan's")
    web.shot("keys-scopes-3-saved")


def test_it_shows_the_keys_page_on_a_phone(web, customer) -> None:
    customer.key("phone")
    phone = web.phone(customer.user)
    web.goto(customer.url("keys/"), "keys-phone", page=phone)

    expect(phone.get_by_role("button", name="Create key")).to_be_visible()
    assert web.horizontal_overflow(phone) == 0, "the keys page scrolls sideways on a phone"


def test_it_sets_a_keys_monthly_cap_from_its_row(web, customer) -> None:
    page = web.page
    customer.key("capped")
    web.log_in(customer.user)
    web.goto(customer.url("keys/"), "keys-cap-1")
    row = page.get_by_role("row").filter(has_text="capped")
    expect(row).to_contain_text("spent 0 credits this month · no cap")
    row.get_by_text("Monthly cap", exact=True).click()
    field = row.get_by_label("Monthly cap")
    field.fill("-5")
    row.get_by_role("button", name="Save cap").click()  # the browser itself refuses it
    assert not field.evaluate("input => input.checkValidity()")
    web.shot("keys-cap-2-editing")
    field.fill("250")
    row.get_by_role("button", name="Save cap").click()

    expect(page.get_by_text("can now spend 250 credits a month")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="capped")
    expect(row).to_contain_text("spent 0 credits this month · cap 250 credits")
    web.shot("keys-cap-3-saved")

"""Sign up in the browser: errors beside their fields, then the new workspace's overview, on the
catalog's default plan."""

from __future__ import annotations

import re

from accounts.models import Workspace
from billing.services import default_plan

from ..conftest import PASSWORD
from .conftest import expect


def test_it_signs_up_and_lands_on_the_new_workspaces_overview(web) -> None:
    page = web.page
    web.goto("/accounts/signup/", "signup-1-form")
    page.get_by_label("Email").fill("grace@hopper.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD + "x")
    page.get_by_label("Workspace name").fill("Compilers")
    page.get_by_role("button", name="Sign up").click()

    mismatch = page.locator(".field-invalid").filter(has=page.get_by_label("Confirm password"))
    expect(mismatch).to_contain_text("The two passwords do not match.")
    web.shot("signup-2-field-error")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    page.wait_for_url(re.compile(r"/dashboard/w/[\w-]+/$"))
    expect(page.get_by_role("heading", level=1, name="Compilers")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Welcome to Tollgate!")
    web.shot("signup-3-overview")

    workspace = Workspace.objects.get(name="Compilers")
    plan = default_plan()
    assert (plan.code, workspace.subscription.plan) == ("trial_chat", plan)
    assert page.url.endswith(f"/dashboard/w/{workspace.slug}/")
    expect(page.locator("main")).to_contain_text(plan.name)
    nav = page.get_by_role("navigation", name="Workspace")
    expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Billing")).to_be_visible()  # the owner's


def test_it_shows_the_overview_on_a_phone(web, customer) -> None:
    phone = web.phone(customer.user)
    web.goto(customer.url(), "overview-phone", page=phone)

    expect(phone.get_by_role("heading", level=1, name=customer.workspace.name)).to_be_visible()
    assert web.horizontal_overflow(phone) == 0, "the overview scrolls sideways on a phone"

"""A member of a workspace uses it but does not see its billing: no Billing tab, and the page
itself is refused."""

from __future__ import annotations

from accounts.models import Membership, Role, User

from ..conftest import PASSWORD
from .conftest import expect


def test_a_member_does_not_see_billing(web, customer) -> None:
    member = User.objects.create_user(email="mel@lovelace.test", password=PASSWORD)
    Membership.objects.create(user=member, workspace=customer.workspace, role=Role.MEMBER)
    page = web.page
    web.log_in(member)
    web.goto(customer.url(), "member-1-overview")

    tabs = page.get_by_role("navigation", name="Workspace")
    expect(tabs.get_by_role("link", name="Usage")).to_be_visible()
    expect(tabs.get_by_role("link", name="Billing")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("You are member of this workspace")

    web.goto(customer.url("billing/"), "member-2-billing-refused", status=(403, 404))
    expect(page.locator("main")).not_to_contain_text("Redeem")


def test_the_owner_sees_billing(web, customer) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url(), "owner-1-overview")

    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Billing").click()
    page.wait_for_url(f"**{customer.url('billing/')}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Billing")
    web.shot("owner-2-billing")

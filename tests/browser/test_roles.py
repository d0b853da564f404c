"""A member of a workspace uses it but does not see its billing: no Billing tab, and the page
itself is refused. The member joins by an invitation link from the Team page (or, where the Team
page is not there, by a Membership row)."""

from __future__ import annotations

from accounts.models import Membership, Role, User

from ..conftest import PASSWORD
from .conftest import expect, page_exists


def invite_member(web, customer, member: User) -> None:
    """The owner creates a member's invitation link on the Team page; the member opens it in
    their own browser and joins."""
    owner = web.page
    web.log_in(customer.user)
    web.goto(customer.url("team/"), "member-1-team")
    owner.get_by_label("Role").select_option(Role.MEMBER)
    owner.get_by_role("button", name="Create invitation link").click()
    link = owner.locator("#invitation-link")
    expect(link).to_be_visible()
    url = link.inner_text().strip()
    web.shot("member-2-invitation-link")

    page = web.new_context().new_page()
    web.log_in(member, page.context)
    page.goto(url)
    join = page.get_by_role("button", name=f"Join {customer.workspace.name}")
    expect(join).to_be_visible()
    web.shot("member-3-invitation", page=page)
    join.click()
    expect(page.get_by_role("status")).to_be_visible()
    assert Membership.objects.get(user=member, workspace=customer.workspace).role == Role.MEMBER
    page.context.clear_cookies()


def test_a_member_does_not_see_billing(web, customer) -> None:
    member = User.objects.create_user(email="mel@lovelace.test", password=PASSWORD)
    if page_exists(customer.url("team/")):
        invite_member(web, customer, member)
    else:
        Membership.objects.create(user=member, workspace=customer.workspace, role=Role.MEMBER)
    page = web.new_context().new_page()
    web.page = page
    web.log_in(member, page.context)
    web.goto(customer.url(), "member-4-overview")

    tabs = page.get_by_role("navigation", name="Workspace")
    expect(tabs.get_by_role("link", name="Usage")).to_be_visible()
    expect(tabs.get_by_role("link", name="Billing")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("You are a member of this workspace")

    web.goto(customer.url("billing/"), "member-5-billing-refused", status=(403, 404))
    expect(page.locator("main")).not_to_contain_text("Redeem")


def test_the_owner_sees_billing(web, customer) -> None:
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url(), "owner-1-overview")

    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Billing").click()
    page.wait_for_url(f"**{customer.url('billing/')}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Billing")
    web.shot("owner-2-billing")

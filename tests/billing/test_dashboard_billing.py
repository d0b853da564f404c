"""The billing page: the plan, plans by family with a request that reaches the operator, the
prepaid balance and codes on prepaid plans only, the ledger in words; owners and admins only.
Usage alerts at 80 % and 100 %: a banner and one e-mail."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import PlanRequest, User
from billing.alerts import send_due_alerts
from billing.ledger import generate_codes, spend_credits
from billing.models import Balance, Plan, UsageRecord

from .test_dashboard_usage import record


def url(workspace) -> str:
    return f"/dashboard/w/{workspace.slug}/billing/"


@pytest.fixture
def prepaid(owner):
    subscription = owner.workspace.subscription
    subscription.plan = Plan.objects.get(code="payg")
    subscription.save()
    return owner


def test_it_redeems_a_code_on_a_prepaid_plan_once(client, prepaid) -> None:
    client.force_login(prepaid.user)
    code = generate_codes(1, Decimal("10")).codes[0]
    done = client.post(url(prepaid.workspace), {"code": code}, follow=True)
    assert done.status_code == 200
    assert b"Code redeemed: $10.00 added; balance $10.00." in done.content
    assert Balance.objects.get(workspace=prepaid.workspace).amount == Decimal("10")
    html = done.content.decode()
    assert "Code redeemed</td>" in html and "+$10.00" in html and "$10.00 left" in html
    again = client.post(url(prepaid.workspace), {"code": code})
    assert again.status_code == 200
    assert b"This code has already been redeemed." in again.content  # beside the field
    assert Balance.objects.get(workspace=prepaid.workspace).amount == Decimal("10")


def test_it_offers_no_prepaid_box_on_a_credit_plan(client, owner) -> None:
    client.force_login(owner.user)
    html = client.get(url(owner.workspace)).content.decode()
    assert "Prepaid balance" not in html and "Redemption code" not in html
    code = generate_codes(1, Decimal("10")).codes[0]
    refused = client.post(url(owner.workspace), {"code": code}, follow=True)
    assert b"Codes are redeemed on prepaid plans only." in refused.content
    assert not Balance.objects.filter(workspace=owner.workspace, amount__gt=0).exists()


def test_it_keeps_billing_from_members_and_outsiders(client, owner, member, outsider) -> None:
    client.force_login(member.user)
    assert client.get(url(owner.workspace)).status_code == 403
    assert client.post(url(owner.workspace), {"code": "X"}).status_code == 403
    pro = Plan.objects.get(code="chat_agent_train")
    asked = client.post(f"{url(owner.workspace)}plan-request/", {"plan": pro.pk})
    assert asked.status_code == 403
    assert b"/billing/" not in client.get(f"/dashboard/w/{owner.workspace.slug}/").content
    client.force_login(outsider.user)
    assert client.get(url(owner.workspace)).status_code == 404
    assert not PlanRequest.objects.exists()


def test_it_shows_the_plans_by_family_with_the_current_one_marked(client, owner) -> None:
    client.force_login(owner.user)

    html = client.get(url(owner.workspace)).content.decode()

    assert "Your plan: Builder" in html
    families = [html.index(f">{name}</h3>") for name in ("Monthly plans", "Request plans")]
    assert families == sorted(families) and ">Pay as you go</h3>" in html
    assert html.count('aria-current="true"') == 1
    assert 'aria-label="Builder plan" aria-current="true"' in html
    assert "contact sales" not in html.lower()
    assert "1,500,000 credits a month" in html and "per token used" in html
    assert "chat_agent" not in html  # scopes said in words


def test_it_sends_a_plan_request_to_the_operator(
    client, owner, settings, django_capture_on_commit_callbacks
) -> None:
    settings.PUBLIC_BASE_URL = "https://gw.example.com"
    User.objects.create_superuser("ops@gw.example.com", "x")
    client.force_login(owner.user)
    pro = Plan.objects.get(code="chat_agent_train")

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            f"{url(owner.workspace)}plan-request/",
            {"plan": pro.pk, "message": "We need fine-tuning"},
            follow=True,
        )

    assert b"Your request for the Pro plan has reached the operator" in done.content
    [asked] = PlanRequest.objects.all()
    assert (asked.workspace, asked.plan, asked.requested_by) == (owner.workspace, pro, owner.user)
    assert asked.current_plan.code == "chat_agent"
    [email] = mail.outbox
    assert email.to == ["ops@gw.example.com"] and email.reply_to == [owner.user.email]
    assert "Builder to the Pro plan" in email.body and "We need fine-tuning" in email.body
    assert "https://gw.example.com/admin/accounts/planrequest/" in email.body
    assert b"Requested: the operator has it." in done.content
    again = client.post(f"{url(owner.workspace)}plan-request/", {"plan": pro.pk}, follow=True)
    assert b"already requested" in again.content and PlanRequest.objects.count() == 1

    admin = User.objects.get(email="ops@gw.example.com")
    client.force_login(admin)
    listing = client.get("/admin/accounts/planrequest/").content.decode()
    assert "Acme" in listing and "Pro" in listing


def test_it_writes_the_ledger_in_words(client, owner) -> None:
    subscription = owner.workspace.subscription
    spend_credits(str(owner.workspace.pk), subscription.current_period_start, 1_500_000, 1, 1)
    client.force_login(owner.user)

    html = client.get(url(owner.workspace)).content.decode()

    assert "Credits history" in html
    assert "Monthly credits renewed" in html and "+1,500,000 credits" in html
    assert "Calls used 1 credit<" in html and "−1 credit<" in html
    assert "1,499,999 credits left" in html
    assert "-1 credits" not in html


def use_credits(workspace, credits: int) -> None:
    start = workspace.subscription.current_period_start
    record(workspace, None, start.replace(tzinfo=None).isoformat(), credits=credits)


def test_it_alerts_at_80_and_100_percent_of_the_credits_once_each(client, owner) -> None:
    plan = owner.workspace.subscription.plan
    plan.monthly_credits = 100
    plan.save()
    client.force_login(owner.user)
    page = f"/dashboard/w/{owner.workspace.slug}/"

    use_credits(owner.workspace, 79)
    assert b"usage-alert" not in client.get(page).content
    assert send_due_alerts() == 0

    use_credits(owner.workspace, 1)
    html = client.get(page).content.decode()
    assert 'data-threshold="80"' in html and "credits are used (80); they renew on" in html
    assert send_due_alerts() == 1 and send_due_alerts() == 0
    assert mail.outbox[0].to == [owner.user.email]
    assert "80 % of the credits used" in mail.outbox[0].subject

    use_credits(owner.workspace, 20)
    html = client.get(url(owner.workspace)).content.decode()
    assert 'data-threshold="100"' in html and "calls are refused until" in html
    assert send_due_alerts() == 1 and len(mail.outbox) == 2
    assert UsageRecord.objects.filter(workspace=owner.workspace).count() == 3


def test_it_alerts_when_the_prepaid_balance_is_nearly_used(client, prepaid) -> None:
    from billing.ledger import charge_usage, grant

    grant(prepaid.workspace, Decimal("10"), reason="test")
    charge_usage(str(prepaid.workspace.pk), Decimal("8.5"), "call-1")
    client.force_login(prepaid.user)

    html = client.get(url(prepaid.workspace)).content.decode()

    assert "85 % of the prepaid balance is used: $1.50 of $10.00 left." in html

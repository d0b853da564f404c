"""Fine-tune page: uploading a dataset with faults shows every faulty line with its field path."""

from __future__ import annotations

import json
import re

import pytest

from billing.models import Plan
from billing.services import subscribe

from .conftest import expect, xfail_until_built

BAD_JSONL = (
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}\n'
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}]}\n'
    b'{"messages": [oops]}\n'
)


@pytest.fixture(autouse=True)
def _dataset_storage(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_it_shows_a_bad_datasets_line_errors(web, customer) -> None:
    subscribe(customer.workspace, Plan.objects.get(code="chat_agent_train"))
    xfail_until_built(customer.url("finetune/"), "The fine-tune page")
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("finetune/"), "finetune-1-upload-form")

    page.locator('input[name="title"]').fill("Support answers")
    page.locator('input[name="file"]').set_input_files(
        {"name": "support.jsonl", "mimeType": "application/jsonl", "buffer": BAD_JSONL}
    )
    page.get_by_role("button", name="Upload").click()

    errors = page.locator(".dataset-errors li")
    expect(errors).to_contain_text(
        ['line 2: messages[1].role: expected "assistant"', re.compile(r"line 3: not valid JSON")]
    )
    expect(errors).to_have_count(2)  # line 1 is fine
    web.shot("finetune-2-line-errors")


def test_it_shows_each_jobs_facts_a_red_failed_badge_and_registers_from_the_page(
    web, customer, upstream
) -> None:
    from finetune import runner
    from finetune.models import Dataset, Job

    from ..finetune.conftest import CHAT_RECORDS

    subscribe(customer.workspace, Plan.objects.get(code="chat_agent_train"))
    dataset = Dataset.objects.create(workspace=customer.workspace, title="Support", records=5)
    failed = Job.objects.create(
        workspace=customer.workspace, dataset=dataset, base_model="llama3.2", state="failed",
        error_code="trainer_error", error="The trainer failed unexpectedly.",
    )  # fmt: skip
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("finetune/"), "finetune-3-failed-job")

    badge = page.locator(f"#job-{failed.pk} .job-state")
    expect(badge).to_have_text("failed")
    assert badge.evaluate("e => getComputedStyle(e).color") == "rgb(196, 43, 43)"  # --danger
    expect(page.locator(f"#job-{failed.pk}")).to_contain_text(str(failed.pk))
    expect(page.locator(f"#job-{failed.pk}")).to_contain_text("Support")
    expect(page.get_by_role("button", name="Upload · 5 credits")).to_be_visible()

    page.locator('input[name="file"]').set_input_files(
        {
            "name": "support.jsonl",
            "mimeType": "application/jsonl",
            "buffer": "\n".join(json.dumps(r) for r in CHAT_RECORDS).encode(),
        }
    )
    page.get_by_role("button", name="Upload · 5 credits").click()
    page.get_by_label("Dataset", exact=True).select_option(label="support (5 records)")
    page.get_by_role("button", name="Start training · 28 credits").click()
    # The page after the POST lists both jobs: the server has committed the new one (on SQLite a
    # write of ours while its request still writes would find the table locked).
    expect(page.locator(".job-state")).to_have_count(2)
    page.goto("about:blank")  # and no poll of the page's reads the jobs while it trains
    job = Job.objects.exclude(pk=failed.pk).get()
    runner.run_job(job.pk)
    web.goto(customer.url("finetune/"), "finetune-4-succeeded")
    card = page.locator(f"#job-{job.pk}")
    expect(card.locator(".job-state")).to_have_text("succeeded")
    card.get_by_label("Model name").fill("support-bot")
    card.get_by_role("button", name="Register · 12 credits").click()

    expect(page.get_by_text("Registered as “support-bot”")).to_be_visible()
    expect(page.locator(f"#job-{job.pk}")).to_contain_text("Call it as support-bot")
    web.shot("finetune-5-registered")

    phone = web.phone(customer.user)
    web.goto(customer.url("finetune/"), "finetune-6-phone", page=phone)
    assert web.horizontal_overflow(phone) == 0, "the fine-tune page scrolls sideways on a phone"


def step(number: int, loss: float) -> dict:
    return {"event": "step", "step": number, "epoch": 1, "trainLoss": loss, "time": "2026-01-01"}


def test_it_draws_a_training_jobs_loss_curve_live(web, customer) -> None:
    """The curve follows the job's steps while the page stays open (no reload)."""
    from finetune.models import Dataset, Job

    subscribe(customer.workspace, Plan.objects.get(code="chat_agent_train"))
    dataset = Dataset.objects.create(workspace=customer.workspace, title="Support", records=5)
    job = Job.objects.create(
        workspace=customer.workspace, dataset=dataset, base_model="llama3.2", method="lora",
        state="running", progress=10, metrics=[step(1, 9.0)],
    )  # fmt: skip
    web.log_in(customer.user)
    web.goto(customer.url("finetune/"), "finetune-7-training")
    curve = web.page.locator(f"#job-{job.pk} .loss-curve")
    expect(curve).to_be_hidden()  # one step is no curve yet

    Job.objects.filter(pk=job.pk).update(
        progress=60, metrics=[step(1, 9.0), step(2, 4.5), step(3, 1.25)]
    )

    expect(curve).to_be_visible(timeout=10_000)
    expect(curve.locator("figcaption")).to_contain_text("Train loss 9 → 1.25")
    assert len(curve.locator(".loss-train").get_attribute("points").split()) == 3
    web.shot("finetune-8-loss-curve-live")
    Job.objects.filter(pk=job.pk).update(state="cancelled")  # the page stops polling

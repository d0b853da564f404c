"""Fine-tune page: uploading a dataset with faults shows every faulty line with its field path."""

from __future__ import annotations

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

"""The dashboard's Fine-tune page: upload with line errors, train, follow the job."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Membership, Role
from billing.models import UsageRecord
from finetune import runner
from finetune.models import Dataset, Job

from .conftest import CHAT_RECORDS


def page_url(workspace) -> str:
    return f"/dashboard/w/{workspace.slug}/finetune/"


def jsonl(records) -> SimpleUploadedFile:
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    return SimpleUploadedFile("support.jsonl", text.encode(), "application/jsonl")


def login(client, trainer_key):
    workspace = trainer_key.key.workspace
    client.force_login(Membership.objects.get(workspace=workspace, role=Role.OWNER).user)
    return workspace


def test_it_shows_a_bad_datasets_line_errors_and_stores_nothing(client, trainer_key) -> None:
    workspace = login(client, trainer_key)
    bad = [
        CHAT_RECORDS[0],
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
    ]

    response = client.post(
        page_url(workspace), {"action": "upload", "title": "Bad", "file": jsonl(bad)}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "line 2: messages[1].role: expected &quot;assistant&quot;" in html
    assert 'class="dataset-errors"' in html
    assert not Dataset.objects.exists()
    assert UsageRecord.objects.get(endpoint="dataset_create").credits == 0


def test_it_uploads_then_trains_and_follows_the_job(client, trainer_key) -> None:
    workspace = login(client, trainer_key)

    uploaded = client.post(page_url(workspace), {"action": "upload", "file": jsonl(CHAT_RECORDS)})
    dataset = Dataset.objects.get()
    trained = client.post(
        page_url(workspace),
        {
            "action": "train",
            "dataset": str(dataset.pk),
            "base_model": "llama3.2",
            "method": "modelfile",
        },
    )
    job = Job.objects.get()
    runner.run_job(job.pk)
    progress = client.get(f"/dashboard/w/{workspace.slug}/finetune/jobs/{job.pk}/?after=0").json()

    assert uploaded.status_code == trained.status_code == 302
    assert dataset.title == "support" and dataset.records == 5
    assert progress["state"] == "succeeded" and progress["progress"] == 100
    assert any(line["message"].startswith("Selected 5 of 5") for line in progress["lines"])
    charged = dict(UsageRecord.objects.values_list("endpoint", "credits"))
    assert charged == {"dataset_create": 5, "job_create": 3, "job_start": 25}
    html = client.get(page_url(workspace)).content.decode()
    assert f'data-job="{job.pk}"' in html and "support (5 records)" in html


def test_it_explains_a_plan_without_fine_tuning(client, owner) -> None:
    client.force_login(owner.user)  # the Builder plan: chat and agents

    response = client.get(page_url(owner.workspace))

    assert response.status_code == 200
    assert "does not include fine-tuning" in response.content.decode()


def test_it_hides_another_workspaces_jobs(client, trainer_key, other_trainer_key, outsider) -> None:
    theirs = Job.objects.create(
        workspace=other_trainer_key.key.workspace,
        dataset=Dataset.objects.create(workspace=other_trainer_key.key.workspace, title="x"),
        base_model="llama3.2",
    )
    workspace = login(client, trainer_key)

    response = client.get(f"/dashboard/w/{workspace.slug}/finetune/jobs/{theirs.pk}/")

    assert response.status_code == 404
    client.force_login(outsider.user)
    assert client.get(page_url(workspace)).status_code == 404


def test_it_shows_a_jobs_facts_and_costs_then_registers_it_from_the_page(
    client, trainer_key, settings
) -> None:
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": ""}  # no `train` extra
    workspace = login(client, trainer_key)
    client.post(page_url(workspace), {"action": "upload", "file": jsonl(CHAT_RECORDS)})
    page = client.get(page_url(workspace)).content.decode()
    assert 'Upload <span class="cost-note">· 5 credits' in page
    assert 'Start training <span class="cost-note">· 28 credits' in page
    assert '<input type="hidden" name="method" value="modelfile">' in page  # no LoRA trainer
    dataset = Dataset.objects.get()
    client.post(
        page_url(workspace),
        {
            "action": "train",
            "dataset": str(dataset.pk),
            "base_model": "llama3.2",
            "method": "modelfile",  # the page's hidden field: the one method offered
        },
    )
    job = Job.objects.get()
    runner.run_job(job.pk)

    html = client.get(page_url(workspace)).content.decode()

    assert f'<code title="{job.pk}">{job.pk}</code>' in html
    assert 'support <span class="muted">(5 records)' in html
    assert "Started</dt>" in html and "Finished</dt>" in html
    assert 'class="badge job-state state-succeeded"' in html
    assert 'Register <span class="cost-note">· 12 credits' in html
    log = client.get(f"/dashboard/w/{workspace.slug}/finetune/jobs/{job.pk}/?after=0").json()
    assert f"/api/v1/finetune/jobs/{job.pk}/register" in log["lines"][-1]["message"]

    registered = client.post(
        f"/dashboard/w/{workspace.slug}/finetune/jobs/{job.pk}/register/",
        {"model_name": "support-bot"},
    )

    assert registered.status_code == 302
    assert registered["Location"] == f"{page_url(workspace)}#job-{job.pk}"
    job.refresh_from_db()
    assert job.registered_model == "support-bot"
    assert UsageRecord.objects.get(endpoint="job_register").credits == 12
    after = client.get(page_url(workspace)).content.decode()
    assert "Registered as “support-bot”" in after and "Call it as <code>support-bot</code>" in after


def test_it_marks_a_failed_job_apart_and_refuses_to_register_it(client, trainer_key) -> None:
    workspace = login(client, trainer_key)
    dataset = Dataset.objects.create(workspace=workspace, title="x")
    failed = Job.objects.create(
        workspace=workspace, dataset=dataset, base_model="llama3.2", state="failed",
        error_code="trainer_error", error="The trainer failed.",
    )  # fmt: skip

    html = client.get(page_url(workspace)).content.decode()
    assert 'class="badge job-state state-failed"' in html and "Register <span" not in html

    refused = client.post(
        f"/dashboard/w/{workspace.slug}/finetune/jobs/{failed.pk}/register/", follow=True
    )
    assert b"Only a succeeded job can be registered" in refused.content
    missing = client.post(f"/dashboard/w/{workspace.slug}/finetune/jobs/nope/register/")
    assert missing.status_code == 404

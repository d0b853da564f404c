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

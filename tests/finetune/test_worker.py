"""The fine-tune flow on a real Celery worker (Redis broker in CI, the embedded file-system broker
otherwise), against the fake upstream acting as Ollama; and seed 004's JavaScript sample, run
unchanged by Node against a live gateway."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openai
import pytest

from billing.models import UsageRecord
from finetune.models import Job, LogLine

from ..proxy.conftest import sdk_client
from .conftest import Api, BlockingTrainer, job_state, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SEED_SAMPLE = Path(__file__).with_name("seed_004_finetune_flow.mjs")


def test_it_trains_on_a_worker_then_registers_and_chats(
    api: Api, celery_worker, upstream, trainer_key
) -> None:
    job = api.job()

    started = api.post(f"/jobs/{job['id']}/start")
    assert started.status_code == 200
    assert started.json()["state"] in ("queued", "running", "succeeded")  # a quick worker wins
    wait_for(lambda: job_state(job["id"]) == "succeeded")

    done = api.get(f"/jobs/{job['id']}").json()
    assert done["progress"] == 100
    assert done["startedAt"] and done["finishedAt"]
    log = [line["message"] for line in api.get(f"/jobs/{job['id']}/log").json()["data"]]
    assert log[1].startswith("Started on a worker")
    assert "Selected 5 of 5 examples, " in " ".join(log)
    registered = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})
    assert registered.status_code == 200
    client = sdk_client(openai.OpenAI, "http://testserver/api/v1", trainer_key)
    answer = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.choices[0].message.content
    assert upstream.requests[-1]["model"].endswith("/support-bot")


def test_it_cancels_a_running_job_within_seconds(api: Api, celery_worker, settings) -> None:
    settings.FINETUNE_TRAINERS = {
        **settings.FINETUNE_TRAINERS,
        "modelfile": "tests.finetune.conftest.BlockingTrainer",
    }
    BlockingTrainer.started.clear()
    job = api.job()
    api.post(f"/jobs/{job['id']}/start")
    assert BlockingTrainer.started.wait(20)
    assert api.get(f"/jobs/{job['id']}").json()["state"] == "running"

    cancelled = api.post(f"/jobs/{job['id']}/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    stopped = wait_for(
        lambda: LogLine.objects.filter(job_id=job["id"], message__startswith="Stopped").first(),
        timeout=5,
    )
    assert stopped.level == "warning"
    assert job_state(job["id"]) == "cancelled"
    assert api.delete(f"/jobs/{job['id']}").status_code == 204


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_seed_004s_javascript_sample_runs_unchanged(
    live_server, celery_worker, trainer_key, upstream
) -> None:
    script = SEED_SAMPLE.read_text()
    script = script.replace("YOUR_API_BASE", live_server.url).replace(
        "YOUR_API_KEY", trainer_key.secret
    )

    run = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 0, run.stderr
    job = Job.objects.get()
    assert (job.state, job.registered_model) == ("succeeded", "my-tuned-model")
    chat = UsageRecord.objects.get(endpoint="chat")
    assert (chat.status, chat.requested_model) == (200, "my-tuned-model")
    assert upstream.requests[-1]["model"].endswith("/my-tuned-model")

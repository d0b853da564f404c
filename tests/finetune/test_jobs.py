"""/api/v1/finetune/jobs: create, start, cancel, log, delete, and the reaper. The worker's part is
run in the test's thread here (finetune.runner.run_job); test_worker.py runs it on a real
Celery worker."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import UsageRecord
from finetune import runner
from finetune.models import Job, LogLine, State
from keys.services import issue_key
from proxy.models import Model, Upstream, UpstreamKind

from .conftest import Api


def test_it_creates_a_pending_job_with_defaults(api: Api) -> None:
    dataset = api.dataset()

    job = api.job(dataset["id"])

    assert job["object"] == "finetune.job"
    assert job["state"] == "pending"
    assert (job["datasetId"], job["baseModel"]) == (dataset["id"], "llama3.2")
    assert (job["method"], job["epochs"], job["progress"]) == ("modelfile", 3, 0)
    assert job["error"] is job["result"] is job["modelName"] is None
    assert api.get(f"/jobs/{job['id']}").json() == job


def test_it_resolves_an_alias_to_the_catalog_name(api: Api) -> None:
    assert api.job(baseModel="gpt-4o-mini")["baseModel"] == "llama3.2"


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"datasetId": None}, "datasetId"),
        ({"baseModel": ""}, "baseModel"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 21}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"method": "qlora"}, "method"),
        ({"learningRate": 0}, "learningRate"),
        ({"learningRate": "fast"}, "learningRate"),
        ({"suffix": "x" * 41}, "suffix"),
    ],
)
def test_it_refuses_a_malformed_job(api: Api, fields, param) -> None:
    body = {"datasetId": api.dataset()["id"], "baseModel": "llama3.2", **fields}

    response = api.post("/jobs", body)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert Job.objects.count() == 0


def test_it_needs_a_dataset_of_the_workspace(api: Api, other_trainer_key) -> None:
    theirs = Api(other_trainer_key).dataset()

    response = api.post("/jobs", {"datasetId": theirs["id"], "baseModel": "llama3.2"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "dataset_not_found"


def test_it_needs_a_base_model_the_key_may_call(api: Api, trainer_key) -> None:
    dataset = api.dataset()
    narrow = issue_key(trainer_key.key.workspace, "qwen only", model_patterns=["qwen*"])

    unknown = api.post("/jobs", {"datasetId": dataset["id"], "baseModel": "gpt-9"})
    outside = Api(narrow).post("/jobs", {"datasetId": dataset["id"], "baseModel": "llama3.2"})

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert unknown.json()["error"]["param"] == "baseModel"
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "model_not_allowed"


def test_it_needs_a_chat_model_an_ollama_upstream_serves(api: Api, gateway, upstream) -> None:
    dataset = api.dataset()
    remote = Upstream.objects.create(
        name="openai", kind=UpstreamKind.OPENAI, base_url=f"{upstream.url}/v1"
    )
    hosted = Model.objects.create(name="gpt-hosted")
    hosted.deployments.create(upstream=remote, upstream_model="gpt-4o")

    for base in ("nomic-embed-text", "gpt-hosted"):
        response = api.post("/jobs", {"datasetId": dataset["id"], "baseModel": base})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "base_model_not_trainable"


def test_it_queues_a_started_job_once(api: Api, django_capture_on_commit_callbacks) -> None:
    job = api.job()

    with django_capture_on_commit_callbacks() as sent:
        first = api.post(f"/jobs/{job['id']}/start")
    again = api.post(f"/jobs/{job['id']}/start")

    assert first.status_code == 200
    assert first.json()["state"] == "queued"
    assert first.json()["queuedAt"]
    assert len(sent) == 1  # the task is sent when the transaction commits
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_already_started"


def test_it_fails_a_lora_job_fast_without_a_gpu_trainer(api: Api, settings) -> None:
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": ""}  # no `train` extra
    job = api.job(method="lora")

    response = api.post(f"/jobs/{job['id']}/start")

    assert response.status_code == 501
    assert response.json()["error"]["code"] == "method_unavailable"
    after = api.get(f"/jobs/{job['id']}").json()
    assert after["state"] == "failed"
    assert after["error"]["code"] == "method_unavailable"
    assert after["modelName"] is None


def test_it_charges_credits_per_endpoint_on_success_only(api: Api) -> None:
    job = api.job()
    api.post(f"/jobs/{job['id']}/start")
    api.post(f"/jobs/{job['id']}/start")  # 409: not charged
    runner.run_job(job["id"])
    api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})
    api.get(f"/jobs/{job['id']}")
    api.get(f"/jobs/{job['id']}/log")

    charged = {
        (r.endpoint, r.status): r.credits
        for r in UsageRecord.objects.exclude(endpoint__in=["chat", "chat_completions"])
    }
    assert charged == {
        ("dataset_create", 201): 5,
        ("job_create", 201): 3,
        ("job_start", 200): 25,
        ("job_start", 409): 0,
        ("job_register", 200): 12,
    }


def test_it_compiles_the_dataset_into_a_model_definition(api: Api) -> None:
    job = api.job()
    api.post(f"/jobs/{job['id']}/start")

    runner.run_job(job["id"])

    done = api.get(f"/jobs/{job['id']}").json()
    assert done["state"] == "succeeded"
    assert done["progress"] == 100
    assert done["result"]["examples"] == 5
    assert done["result"]["hasSystemPrompt"] is True
    assert done["result"]["parameters"]["num_ctx"] >= 4096
    artifact = Job.objects.get(pk=job["id"]).artifact
    assert artifact["system"] == "You are Acme's support agent. Be brief."
    assert artifact["messages"][:2] == [
        {"role": "user", "content": "Question 1: where is my order?"},
        {"role": "assistant", "content": "Answer 1: it ships tomorrow."},
    ]
    messages = [line["message"] for line in api.get(f"/jobs/{job['id']}/log").json()["data"]]
    assert any("the base model's weights are not trained" in m for m in messages)
    assert any(m.startswith("Selected 5 of 5 examples") for m in messages)


def test_it_keeps_the_examples_within_a_quarter_of_the_context_window(api: Api, gateway) -> None:
    gateway["llama"].context_window = 2048  # budget 512 tokens, less the system prompt
    gateway["llama"].save()
    long_answer = "word " * 150
    records = [
        {"prompt": f"Question {i}?", "completion": long_answer if i % 2 else "Short."}
        for i in range(1, 21)
    ]
    job = api.job(api.dataset(records)["id"])
    api.post(f"/jobs/{job['id']}/start")

    runner.run_job(job["id"])

    done = api.get(f"/jobs/{job['id']}").json()
    assert 0 < done["result"]["exampleTokens"] <= 512
    assert done["result"]["examples"] < 20
    assert done["result"]["parameters"]["num_ctx"] == 2048  # never above the window
    log = [line["message"] for line in api.get(f"/jobs/{job['id']}/log").json()["data"]]
    assert f"Selected {done['result']['examples']} of 20 examples" in " ".join(log)


def test_it_succeeds_with_an_empty_dataset_and_says_so(api: Api) -> None:
    job = api.job(api.post("/datasets", {"title": "Empty", "records": []}).json()["id"])
    api.post(f"/jobs/{job['id']}/start")

    runner.run_job(job["id"])

    assert api.get(f"/jobs/{job['id']}").json()["state"] == "succeeded"
    levels = {line["level"] for line in api.get(f"/jobs/{job['id']}/log").json()["data"]}
    assert "warning" in levels


def test_it_polls_the_log_after_a_line(api: Api) -> None:
    job = api.job()
    api.post(f"/jobs/{job['id']}/start")
    first = api.get(f"/jobs/{job['id']}/log").json()
    runner.run_job(job["id"])

    later = api.get(f"/jobs/{job['id']}/log?after={first['last']}").json()

    assert [line["message"] for line in first["data"]] == ["Queued on 'default'."]
    assert later["data"][0]["id"] > first["last"]
    assert later["data"][-1]["message"].startswith("Succeeded")
    assert later["state"] == "succeeded"
    assert api.get(f"/jobs/{job['id']}/log?after=x").status_code == 400


def test_it_cancels_a_pending_or_queued_job_and_not_a_finished_one(api: Api) -> None:
    pending, queued = api.job(), api.job()
    api.post(f"/jobs/{queued['id']}/start")

    for job in (pending, queued):
        response = api.post(f"/jobs/{job['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["state"] == "cancelled"
        assert response.json()["finishedAt"]
    runner.run_job(queued["id"])  # the task, delivered anyway, finds it cancelled
    again = api.post(f"/jobs/{queued['id']}/cancel")

    assert Job.objects.get(pk=queued["id"]).state == State.CANCELLED
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_cancellable"


def test_it_refuses_to_delete_a_running_job(api: Api) -> None:
    job = api.job()
    Job.objects.filter(pk=job["id"]).update(state=State.RUNNING)

    response = api.delete(f"/jobs/{job['id']}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_active"
    assert Job.objects.filter(pk=job["id"]).exists()


def test_it_deletes_a_finished_job_with_its_log(api: Api) -> None:
    job = api.job()
    api.post(f"/jobs/{job['id']}/cancel")

    assert api.delete(f"/jobs/{job['id']}").status_code == 204
    assert not Job.objects.exists()
    assert not LogLine.objects.exists()
    assert api.get(f"/jobs/{job['id']}").status_code == 404


def test_it_hides_another_workspaces_job(api: Api, other_trainer_key) -> None:
    theirs = Api(other_trainer_key).job()

    for method, path in [
        ("get", ""), ("delete", ""), ("post", "/start"), ("post", "/cancel"), ("get", "/log"),
        ("post", "/register"),
    ]:  # fmt: skip
        response = getattr(api, method)(f"/jobs/{theirs['id']}{path}")
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "job_not_found"
    assert api.get("/jobs").json()["data"] == []
    assert Job.objects.get(pk=theirs["id"]).state == State.PENDING


def test_it_reaps_a_job_whose_worker_stopped_beating(api: Api, time_machine) -> None:
    time_machine.move_to(dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC), tick=False)
    lost, alive = api.job(), api.job()
    for job in (lost, alive):
        api.post(f"/jobs/{job['id']}/start")
        runner.claim(job["id"])  # running, heartbeat now
    time_machine.shift(50)
    Job.objects.filter(pk=alive["id"]).update(
        heartbeat_at=dt.datetime(2026, 11, 22, 12, 0, 50, tzinfo=dt.UTC)
    )
    time_machine.shift(20)  # 70 s after the lost job's last heartbeat; 20 s after the other's

    reaped = runner.reap_stale_jobs()

    assert reaped == 1
    gone = api.get(f"/jobs/{lost['id']}").json()
    assert gone["state"] == "failed"
    assert gone["error"]["code"] == "worker_lost"
    assert "no heartbeat for 60 s" in gone["error"]["message"]
    assert api.get(f"/jobs/{alive['id']}").json()["state"] == "running"
    assert runner.reap_stale_jobs() == 0


def test_it_cancels_a_running_job(api: Api) -> None:
    job = api.job()
    api.post(f"/jobs/{job['id']}/start")
    runner.claim(job["id"])

    response = api.post(f"/jobs/{job['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert runner.Run(Job.objects.get(pk=job["id"])).should_stop() is True


def test_it_refuses_a_suffix_that_cannot_name_a_model(api: Api) -> None:
    body = {"datasetId": api.dataset()["id"], "baseModel": "llama3.2", "suffix": "my suffix"}

    response = api.post("/jobs", body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "suffix"

"""Creating and starting `lora` jobs where a lora trainer is configured: hyper-parameters, base
weights, plan caps, resume's rules; and the fake Ollama's blobs. None of it needs PyTorch (the web
process never imports it), so these run everywhere."""

from __future__ import annotations

import hashlib
import json

import pytest
import urllib3
from django.urls import reverse

from finetune.models import Job, State

from .conftest import Api

TRAINER = "finetune.trainers.lora.LoraTrainer"


@pytest.fixture
def weights(settings, tmp_path):
    """llama3.2's trainable weights: a directory with a Llama config.json."""
    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": TRAINER}
    settings.FINETUNE_LORA_BASE_WEIGHTS = {"llama3.2": str(folder)}
    return folder


def create(api: Api, **fields):
    dataset = api.dataset()
    return api.post("/jobs", {"datasetId": dataset["id"], "baseModel": "llama3.2", **fields})


def test_it_fills_in_the_defaults_of_a_lora_job(api: Api, weights) -> None:
    response = create(api, method="lora", loraRank=8, batchSize=2)

    assert response.status_code == 201, response.content
    assert response.json()["hyperparameters"] == {
        "loraRank": 8,
        "loraAlpha": 32,
        "loraDropout": 0.05,
        "maxSeqLength": 1024,
        "batchSize": 2,
        "validationSplit": 0.1,
        "seed": 42,
    }
    assert response.json()["metrics"] == [] and response.json()["checkpoint"] is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"loraRank": 0}, "loraRank"),
        ({"loraRank": 2.5}, "loraRank"),
        ({"loraRank": True}, "loraRank"),
        ({"loraAlpha": "16"}, "loraAlpha"),
        ({"loraDropout": 0.9}, "loraDropout"),
        ({"maxSeqLength": 10**9}, "maxSeqLength"),
        ({"batchSize": [4]}, "batchSize"),
        ({"validationSplit": -0.1}, "validationSplit"),
        ({"seed": "\u0000"}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_it_refuses_hyperparameters_out_of_range(api: Api, weights, fields, param) -> None:
    response = create(api, method="lora", **fields)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["message"].startswith(f"{param}: ")


def test_it_takes_a_second_dataset_for_validation(api: Api, other_trainer_key, weights) -> None:
    held_out = api.dataset()["id"]
    rival = Api(other_trainer_key).dataset()["id"]

    taken = create(api, method="lora", validationDatasetId=held_out)
    refused = create(api, method="lora", validationDatasetId=rival)
    wrong = create(api, validationDatasetId=held_out)

    assert taken.status_code == 201, taken.content
    assert taken.json()["hyperparameters"]["validationDatasetId"] == held_out
    assert refused.status_code == 404  # another workspace's dataset is a missing one
    assert refused.json()["error"]["code"] == "dataset_not_found"
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "validationDatasetId"


def test_it_refuses_lora_hyperparameters_on_a_modelfile_job(api: Api, weights) -> None:
    response = create(api, loraRank=8)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == 'loraRank: applies to method "lora" only'


def test_it_refuses_a_base_model_without_weights_at_creation(api: Api, weights, settings) -> None:
    settings.FINETUNE_LORA_BASE_WEIGHTS = {}

    response = create(api, method="lora")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("base_model_not_trainable", "baseModel")
    assert "no trainable weights" in error["message"]
    assert not Job.objects.exists()


def test_it_refuses_weights_that_are_missing_on_disk(api: Api, weights, settings) -> None:
    settings.FINETUNE_LORA_BASE_WEIGHTS = {"llama3.2": str(weights / "gone")}

    response = create(api, method="lora")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "baseModel"
    assert "were not found" in response.json()["error"]["message"]


def test_it_refuses_an_architecture_ollama_cannot_load_as_an_adapter(api: Api, weights) -> None:
    (weights / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"]}))

    response = create(api, method="lora")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "baseModel"
    assert "Qwen2ForCausalLM" in response.json()["error"]["message"]


def test_it_takes_a_declared_architecture_where_the_web_host_cannot_see_the_disk(
    api: Api, weights, settings
) -> None:
    settings.FINETUNE_LORA_BASE_WEIGHTS = {
        "llama3.2": {"path": "/srv/weights/llama-3.2-3b", "architecture": "LlamaForCausalLM"}
    }

    assert create(api, method="lora").status_code == 201


def test_it_caps_dataset_tokens_times_epochs_per_plan(api: Api, weights, settings) -> None:
    settings.FINETUNE_LORA_LIMITS = {
        "default": {"max_token_epochs": 10**9},
        "chat_agent_train": {"max_token_epochs": 100},
    }

    response = create(api, method="lora", epochs=20)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "training_too_large"
    assert response.json()["error"]["param"] == "epochs"


def test_it_caps_the_concurrent_lora_jobs_per_plan(api: Api, weights, settings) -> None:
    settings.FINETUNE_LORA_LIMITS = {"default": {"max_concurrent": 1}}
    first, second = create(api, method="lora").json(), create(api, method="lora").json()
    Job.objects.filter(pk=first["id"]).update(state=State.RUNNING)

    response = api.post(f"/jobs/{second['id']}/start")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "training_jobs_limit"
    assert Job.objects.get(pk=second["id"]).state == "pending"


def test_it_resumes_only_a_failed_job_with_a_checkpoint(api: Api, weights) -> None:
    job = create(api, method="lora").json()
    Job.objects.filter(pk=job["id"]).update(state=State.FAILED, error_code="worker_lost")

    response = api.post(f"/jobs/{job['id']}/resume")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_resumable"


def test_the_fake_ollama_checks_a_blobs_digest(upstream) -> None:
    data = b'{"r": 8}'
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    url = f"{upstream.url}/api/blobs/{digest}"

    assert urllib3.request("HEAD", url).status == 404
    wrong = urllib3.request("POST", url, body=b"something else")
    assert wrong.status == 400
    assert json.loads(wrong.data)["error"].startswith("digest mismatch")
    assert urllib3.request("POST", url, body=data).status == 201
    assert urllib3.request("HEAD", url).status == 200
    missing = "sha256:" + "0" * 64
    created = urllib3.request(
        "POST",
        f"{upstream.url}/api/create",
        json={
            "model": "tuned",
            "from": "llama3.2",
            "adapters": {"adapter_config.json": digest, "adapter_model.safetensors": missing},
            "stream": False,
        },
    )
    assert created.status == 400
    assert "no such file or directory" in json.loads(created.data)["error"]


@pytest.mark.parametrize(
    ("trainer", "offered"), [("", ["modelfile"]), (TRAINER, ["modelfile", "lora"])]
)
def test_the_api_docs_offer_lora_only_where_a_trainer_is_configured(
    client, settings, trainer, offered
) -> None:
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": trainer}

    document = client.get("/api/v1/schema").json()

    method = document["components"]["schemas"]["JobCreateRequest"]["properties"]["method"]
    assert method["enum"] == offered


def test_the_dashboard_offers_lora_where_configured_and_draws_its_loss_curves(
    client, trainer_key, settings, weights
) -> None:
    from accounts.models import Membership, Role

    workspace = trainer_key.key.workspace
    client.force_login(Membership.objects.get(workspace=workspace, role=Role.OWNER).user)
    page = f"/dashboard/w/{workspace.slug}/finetune/"
    api = Api(trainer_key)
    job = create(api, method="lora").json()
    metrics = [
        {
            "event": "step",
            "step": s,
            "epoch": 1,
            "trainLoss": 4.0 / s,
            "time": "2026-01-01T00:00:00Z",
        }
        for s in range(1, 5)
    ] + [{"event": "epoch", "epoch": 1, "step": 4, "evalLoss": 2.5, "time": "2026-01-01T00:00:01Z"}]
    Job.objects.filter(pk=job["id"]).update(metrics=metrics)

    html = client.get(page).content.decode()

    assert '<option value="lora">' in html
    assert 'class="loss-curve"' in html and 'aria-label="Loss by step: train 4 to 1"' in html
    # the page's live view redraws the curves from the job's progress, polled while it trains
    progress = client.get(reverse("dashboard:finetune_job", args=[workspace.slug, job["id"]]))
    curve = progress.json()["lossCurve"]
    assert (curve["first"], curve["last"]) == ("4", "1")
    assert len(curve["train"].split()) == 4 and len(curve["eval"].split()) == 1
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": ""}
    assert '<option value="lora">' not in client.get(page).content.decode()

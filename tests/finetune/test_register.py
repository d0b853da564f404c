"""POST /api/v1/finetune/jobs/{id}/register: the model created in Ollama (the fake upstream, which
keeps what /api/create makes), then callable by that workspace only."""

from __future__ import annotations

import datetime as dt
import json

import openai
import pytest
import urllib3
from django.utils import timezone

from finetune import runner
from finetune.models import Job
from proxy.models import Model
from proxy.tokens import count_tokens

from ..proxy.conftest import add_upstream, deploy, sdk_client
from .conftest import Api


def trained(api: Api, **fields) -> dict:
    job = api.job(**fields)
    api.post(f"/jobs/{job['id']}/start")
    runner.run_job(job["id"])
    assert Job.objects.get(pk=job["id"]).state == "succeeded"
    return job


def ollama_models(server) -> set[str]:
    response = urllib3.request("GET", f"{server.url}/api/tags")
    return {m["name"] for m in json.loads(response.data)["models"]}


def test_it_creates_the_model_in_ollama_and_chats_with_it(api: Api, upstream, trainer_key) -> None:
    job = trained(api)
    upstream.clear()

    response = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert response.status_code == 200, response.content
    assert response.json()["modelName"] == "support-bot"
    create, show = upstream.requests
    remote = (
        f"tollgate-{trainer_key.key.workspace_id.hex}-{job['id'].replace('-', '')[:12]}/support-bot"
    )
    assert (create["path"], show["path"]) == ("/api/create", "/api/show")
    assert create["body"]["model"] == show["body"]["model"] == remote
    assert create["body"]["from"] == "llama3.2"
    assert create["body"]["system"] == "You are Acme's support agent. Be brief."
    assert len(create["body"]["messages"]) == 10
    assert create["body"]["parameters"]["num_ctx"] >= 4096
    assert f"{remote}:latest" in ollama_models(upstream)
    assert api.get(f"/jobs/{job['id']}").json()["modelName"] == "support-bot"

    client = sdk_client(openai.OpenAI, "http://testserver/api/v1", trainer_key)
    answer = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "Where is my order?"}]
    )
    assert answer.model == "support-bot"
    assert answer.choices[0].message.content
    assert upstream.requests[-1]["model"] == remote
    assert "support-bot" in [m.id for m in client.models.list()]


def test_it_keeps_the_model_to_its_workspace(api: Api, other_trainer_key, key_b) -> None:
    api.post(f"/jobs/{trained(api)['id']}/register", {"modelName": "support-bot"})

    for key in (other_trainer_key, key_b):
        client = sdk_client(openai.OpenAI, "http://testserver/api/v1", key)
        with pytest.raises(openai.NotFoundError) as refused:
            client.chat.completions.create(
                model="support-bot", messages=[{"role": "user", "content": "hi"}]
            )
        assert refused.value.code == "model_not_found"
        assert "support-bot" not in [m.id for m in client.models.list()]


def test_two_workspaces_may_use_the_same_name(api: Api, other_trainer_key, upstream) -> None:
    theirs = Api(other_trainer_key)

    mine = api.post(f"/jobs/{trained(api)['id']}/register", {"modelName": "my-tuned-model"})
    other = theirs.post(f"/jobs/{trained(theirs)['id']}/register", {"modelName": "my-tuned-model"})

    assert mine.status_code == other.status_code == 200
    assert Model.objects.filter(name="my-tuned-model").count() == 2
    assert len([m for m in ollama_models(upstream) if m.endswith("/my-tuned-model:latest")]) == 2


@pytest.mark.parametrize(
    "name",
    ["", "has space", "-dash-first", "a..b", "x" * 81, "name:", "a:b:c", "ns/model", "agent:x", 7],
)
def test_it_refuses_a_name_ollama_would_refuse(api: Api, name) -> None:
    job = trained(api)

    response = api.post(f"/jobs/{job['id']}/register", {"modelName": name})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_model_name"
    assert api.get(f"/jobs/{job['id']}").json()["modelName"] is None


def test_it_refuses_a_taken_name(api: Api) -> None:
    api.post(f"/jobs/{trained(api)['id']}/register", {"modelName": "support-bot"})
    second = trained(api)

    taken = api.post(f"/jobs/{second['id']}/register", {"modelName": "support-bot"})
    public = api.post(f"/jobs/{second['id']}/register", {"modelName": "llama3.2"})

    for response in (taken, public):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "model_name_taken"
    assert api.get(f"/jobs/{second['id']}").json()["modelName"] is None


def test_it_registers_a_succeeded_job_once(api: Api) -> None:
    pending = api.job()
    job = trained(api)
    api.post(f"/jobs/{job['id']}/register", {"modelName": "first"})

    early = api.post(f"/jobs/{pending['id']}/register", {"modelName": "x"})
    again = api.post(f"/jobs/{job['id']}/register", {"modelName": "second"})

    assert early.status_code == 409
    assert early.json()["error"]["code"] == "job_not_succeeded"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_already_registered"
    assert not Model.objects.filter(name="second").exists()


def test_it_names_the_model_after_the_base_and_suffix_by_default(api: Api) -> None:
    job = trained(api, suffix="support")

    response = api.post(f"/jobs/{job['id']}/register")

    assert response.status_code == 200
    assert response.json()["modelName"] == "llama3.2-support"


def test_it_registers_nothing_when_ollama_refuses(api: Api, upstream) -> None:
    job = trained(api)
    upstream.configure(status=500, status_times=1)

    refused = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "upstream_error"
    assert not Model.objects.filter(name="support-bot").exists()
    assert not any("support-bot" in m for m in ollama_models(upstream))
    retried = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})
    assert retried.status_code == 200


def test_it_reads_ollamas_answers_within_the_upstream_caps(api: Api, upstream, settings) -> None:
    job = trained(api)
    settings.UPSTREAM_MAX_BODY_BYTES = 8  # /api/create's {"status":"success"} is more

    refused = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert refused.status_code == 502, refused.content
    assert "UPSTREAM_MAX_BODY_BYTES" in refused.json()["error"]["message"]
    assert not Model.objects.filter(name="support-bot").exists()


def test_it_creates_the_model_on_every_ollama_host_of_the_base(api, gateway, upstream_b) -> None:
    second_host = add_upstream(upstream_b, "ollama-b")
    deploy(gateway["llama"], second_host, "llama3.2")
    job = trained(api)

    response = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert response.status_code == 200
    model = Model.objects.get(name="support-bot")
    assert sorted(d.upstream.name for d in model.deployments.all()) == ["fake-ollama", "ollama-b"]
    assert any(m.endswith("/support-bot:latest") for m in ollama_models(upstream_b))


def test_it_removes_what_it_created_when_a_later_host_fails(
    api, gateway, upstream, upstream_b
) -> None:
    deploy(gateway["llama"], add_upstream(upstream_b, "ollama-b"), "llama3.2")
    job = trained(api)
    upstream_b.configure(status=500, status_times=1)

    response = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert response.status_code == 502
    assert "ollama-b" in response.json()["error"]["message"]
    assert not any("support-bot" in m for m in ollama_models(upstream))
    assert not Model.objects.filter(name="support-bot").exists()


def test_it_lists_the_room_left_for_chats_as_the_models_window(api: Api, gateway) -> None:
    job = trained(api)

    api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    result = api.get(f"/jobs/{job['id']}").json()["result"]
    model = Model.objects.get(name="support-bot")
    num_ctx = result["parameters"]["num_ctx"]
    system = count_tokens("You are Acme's support agent. Be brief.")
    assert model.context_window == result["contextWindow"]
    assert model.context_window == num_ctx - system - result["exampleTokens"]
    assert 8192 <= model.context_window < gateway["llama"].context_window


def test_a_registration_in_progress_holds_the_job_until_its_claim_lapses(api: Api) -> None:
    job = trained(api)
    Job.objects.filter(pk=job["id"]).update(registering_since=timezone.now())

    busy = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})
    Job.objects.filter(pk=job["id"]).update(
        registering_since=timezone.now() - dt.timedelta(minutes=16)
    )  # its process died holding it
    later = api.post(f"/jobs/{job['id']}/register", {"modelName": "support-bot"})

    assert busy.status_code == 409
    assert "being registered" in busy.json()["error"]["message"]
    assert later.status_code == 200
    assert Job.objects.get(pk=job["id"]).registering_since is None

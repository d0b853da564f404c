"""The `lora` method for real, on CPU: a tiny Llama made on the spot (tests/finetune/tiny_llama.py)
as the base weights of llama3.2, a job through the public API on a Celery worker consuming
`training`, the adapter loaded back with peft, registered in the fake Ollama (blobs, `adapters`)
and chatted with through /api/v1/chat; cancel and resume. Skipped where the `train` extra
(torch, transformers, peft) is not installed; CI installs it."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import urllib3
from django.core.files.storage import default_storage
from django.db import OperationalError

from finetune import runner
from finetune.models import Job, LogLine, State

from . import tiny_llama
from .conftest import Api, wait_for

pytest.importorskip("peft", reason="the `train` extra (torch, transformers, peft) is not installed")
pytestmark = pytest.mark.django_db(transaction=True)
HYPER = {
    "method": "lora",
    "epochs": 20,
    "learningRate": 0.01,
    "batchSize": 4,
    "loraRank": 16,
    "loraAlpha": 32,
    "loraDropout": 0.0,
    "maxSeqLength": 128,
    "validationSplit": 0.1,
    "seed": 42,
}
TRAINER = "finetune.trainers.lora.LoraTrainer"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return tiny_llama.build(tmp_path_factory.mktemp("tiny-llama"), tiny_llama.conversations())


@pytest.fixture
def lora(settings, tiny_base) -> Path:
    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": TRAINER}
    settings.FINETUNE_LORA_BASE_WEIGHTS = {"llama3.2": str(tiny_base)}
    return tiny_base


def adapter_folder(job: Job, folder: Path) -> Path:
    for name, stored in job.artifact["adapter"].items():
        with default_storage.open(stored["path"], "rb") as handle:
            (folder / name).write_bytes(handle.read())
    return folder


def lora_job(api: Api, **fields) -> dict:
    dataset = api.dataset(tiny_llama.conversations())
    return api.job(dataset["id"], **{**HYPER, **fields})


def test_it_trains_a_real_adapter_registers_it_and_chats(
    api: Api, celery_worker, upstream, lora, tmp_path
) -> None:
    job = lora_job(api)
    assert job["hyperparameters"]["loraRank"] == 16
    started = time.monotonic()

    assert api.post(f"/jobs/{job['id']}/start").status_code == 200
    wait_for(lambda: job_state_in(job["id"], State.SUCCEEDED, State.FAILED), timeout=600)

    done = api.get(f"/jobs/{job['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    assert done["progress"] == 100
    result, metrics = done["result"], done["metrics"]
    steps = [m for m in metrics if m["event"] == "step"]
    epochs = [m for m in metrics if m["event"] == "epoch"]
    assert [m["step"] for m in steps] == list(
        range(1, 101)
    )  # 18 conversations, 4 a step, 20 epochs
    assert len(epochs) == 20 and all(m["evalLoss"] > 0 for m in epochs)
    assert all(m["tokensPerSecond"] > 0 and m["etaSeconds"] >= 0 for m in steps)
    assert result["trainLossFirst"] / result["trainLossLast"] > 5  # it really learned
    print(
        f"\nlora on CPU: train loss {result['trainLossFirst']} -> {result['trainLossLast']}, "
        f"eval loss {epochs[0]['evalLoss']} -> {epochs[-1]['evalLoss']}, "
        f"{result['tokensPerSecond']} tokens/s, {time.monotonic() - started:.1f} s in all"
    )
    log = api.get(f"/jobs/{job['id']}/log?limit=1000").json()["data"]
    structured = [line["data"] for line in log if "data" in line]
    assert {"plan", "step", "epoch", "done"} <= {d["event"] for d in structured}

    stored = Job.objects.get(pk=job["id"])
    for name, info in result["adapter"].items():
        with default_storage.open(stored.artifact["adapter"][name]["path"], "rb") as handle:
            data = handle.read()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (info["sha256"], info["bytes"])
    config = json.loads(
        default_storage.open(stored.artifact["adapter"]["adapter_config.json"]["path"]).read()
    )
    assert (config["r"], config["lora_alpha"], config["peft_type"]) == (16, 32, "LORA")

    adapter = adapter_folder(stored, tmp_path)
    questions = [c["messages"][:2] for c in tiny_llama.conversations()]
    answers = [c["messages"][2]["content"] for c in tiny_llama.conversations()]
    before = tiny_llama.greedy_answers(lora, questions)
    after = tiny_llama.greedy_answers(lora, questions, adapter)
    assert not set(before) & set(answers)  # the base model could not
    learned = [a for a, want in zip(after, answers, strict=True) if a == want]
    print(f"greedy answers reproduced exactly: {len(learned)} of 20 (18 trained on)")
    assert len(learned) >= 9, after  # at least half of the 18 training conversations

    upstream.clear()
    registered = api.post(f"/jobs/{job['id']}/register", {"modelName": "vault-keeper"})
    assert registered.status_code == 200, registered.content
    calls = [(r["method"], r["path"]) for r in upstream.requests]
    digests = {n: f"sha256:{f['sha256']}" for n, f in result["adapter"].items()}
    assert sorted(calls[:4]) == sorted(
        [(m, f"/api/blobs/{d}") for d in digests.values() for m in ("HEAD", "POST")]
    )
    create = upstream.requests[4]
    assert create["path"] == "/api/create"
    assert create["body"]["adapters"] == digests
    assert create["body"]["from"] == "llama3.2"
    assert create["body"]["system"] == tiny_llama.SYSTEM
    show = upstream.requests[5]
    assert show["path"] == "/api/show"
    shown = urllib3.request(
        "POST", f"{upstream.url}/api/show", json={"model": create["body"]["model"]}
    )
    assert "ADAPTER " in shown.json()["modelfile"]

    chat = api.http.post(
        "/api/v1/chat",
        json={"model": "vault-keeper", "messages": [{"role": "user", "content": "otter?"}]},
        headers=api._headers(),
    )
    assert chat.status_code == 200, chat.content
    assert upstream.requests[-1]["model"] == create["body"]["model"]

    # A second registration elsewhere would skip the blobs the server has: HEAD says 200.
    assert all(
        urllib3.request("HEAD", f"{upstream.url}/api/blobs/{d}").status == 200
        for d in digests.values()
    )

    paths = [f["path"] for f in stored.artifact["adapter"].values()] + [stored.checkpoint["path"]]
    assert all(default_storage.exists(p) for p in paths)
    Job.objects.filter(pk=job["id"]).update(registered_model="")  # the job, not the model
    assert api.delete(f"/jobs/{job['id']}").status_code == 204
    assert not any(default_storage.exists(p) for p in paths)


def quietly(check):
    """A check polled while a job trains: SQLite's shared cache (the tests' in-memory database)
    answers 'table is locked' to a read during a write; that read just counts as not yet."""

    def polled():
        time.sleep(0.2)
        try:
            return check()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return None

    return polled


def job_state_in(job_id: str, *states: str) -> bool:
    return quietly(lambda: Job.objects.get(pk=job_id).state in states)()


def test_it_cancels_a_training_job_within_seconds(api: Api, celery_worker, lora) -> None:
    job = lora_job(api, epochs=20)
    api.post(f"/jobs/{job['id']}/start")
    wait_for(quietly(lambda: Job.objects.get(pk=job["id"]).metrics), timeout=120)  # it has begun

    cancelled_at = time.monotonic()
    assert api.post(f"/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    stopped = wait_for(
        quietly(
            lambda: LogLine.objects.filter(job_id=job["id"], message__startswith="Stopped").first()
        ),
        timeout=10,
    )
    print(f"\nlora cancel: stopped {time.monotonic() - cancelled_at:.2f} s after the cancel")
    assert stopped.level == "warning"
    after = Job.objects.get(pk=job["id"])
    assert after.state == "cancelled" and after.artifact is None


class WorkerKilled(BaseException):
    """What a SIGKILL does to a run: nothing after it (no state change, no log line)."""


class KilledAfterFirstEpoch:
    """The real trainer, whose worker dies right after the first epoch's checkpoint."""

    def train(self, job, dataset, log, should_stop):
        from finetune.trainers import lora

        class Dying(lora.Training):
            def checkpoint(self, *args, **kwargs):
                super().checkpoint(*args, **kwargs)
                raise WorkerKilled

        heartbeat = lora.Heartbeat(should_stop)
        heartbeat.start()
        try:
            return Dying(job, dataset, log, lambda: heartbeat.stopped, heartbeat.lock).run()
        finally:
            heartbeat.finish()


def test_it_resumes_a_killed_workers_job_from_its_checkpoint(
    api: Api, celery_worker, lora, settings
) -> None:
    held_out = api.dataset(tiny_llama.conversations()[:5])["id"]  # eval on a second dataset
    job = lora_job(api, epochs=3, validationDatasetId=held_out)
    Job.objects.filter(pk=job["id"]).update(state=State.QUEUED)  # as start, run here below
    settings.FINETUNE_TRAINERS = {
        **settings.FINETUNE_TRAINERS,
        "lora": "tests.finetune.test_lora.KilledAfterFirstEpoch",
    }
    with pytest.raises(WorkerKilled):
        runner.run_job(job["id"])
    assert Job.objects.get(pk=job["id"]).state == "running"  # as a killed worker leaves it
    settings.FINETUNE_HEARTBEAT_TIMEOUT_SECONDS = 1
    time.sleep(1.5)
    assert runner.reap_stale_jobs() == 1
    lost = api.get(f"/jobs/{job['id']}").json()
    assert lost["error"]["code"] == "worker_lost"
    assert "resume it from its checkpoint of epoch 1" in lost["error"]["message"]
    assert lost["checkpoint"] == {"epoch": 1, "step": 5}

    settings.FINETUNE_TRAINERS = {**settings.FINETUNE_TRAINERS, "lora": TRAINER}
    resumed = api.post(f"/jobs/{job['id']}/resume")
    assert resumed.status_code == 200, resumed.content
    wait_for(lambda: job_state_in(job["id"], State.SUCCEEDED, State.FAILED), timeout=300)

    done = api.get(f"/jobs/{job['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    steps = [m["step"] for m in done["metrics"] if m["event"] == "step"]
    assert steps == list(range(1, 16))  # epoch 1 before the kill, 2 and 3 after: no step twice
    plan = LogLine.objects.filter(job_id=job["id"], data__event="plan").first().data
    assert (plan["trainExamples"], plan["evalExamples"]) == (20, 5)
    messages = [line.message for line in LogLine.objects.filter(job_id=job["id"])]
    assert any(m.startswith("Resumed from the checkpoint of epoch 1 (step 5)") for m in messages)
    assert api.post(f"/jobs/{job['id']}/resume").json()["error"]["code"] == "job_not_resumable"

"""Fine-tuning fixtures: a workspace on the Pro plan (scope chat_agent_train), its API client,
dataset storage in a temporary folder, and a real Celery worker (Redis broker when REDIS_URL is
set, as in CI; otherwise the embedded file-system broker) consuming `default` and `training`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.services import create_workspace
from billing.models import Plan
from config.celery import app
from finetune.models import Job
from keys.services import issue_key

from ..conftest import _user
from ..proxy.conftest import (  # noqa: F401 - the gateway's fixtures, shared
    _keep_the_test_connection,
    _reset_upstreams,
    gateway,
    upstream,
    upstream_b,
    wsgi_http_client,
)

API = "/api/v1/finetune"
CHAT_RECORDS = [
    {
        "messages": [
            {"role": "system", "content": "You are Acme's support agent. Be brief."},
            {"role": "user", "content": f"Question {i}: where is my order?"},
            {"role": "assistant", "content": f"Answer {i}: it ships tomorrow."},
        ]
    }
    for i in range(1, 6)
]


@pytest.fixture(autouse=True)
def _dataset_storage(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def trainer_key(db, request):
    """A key of a workspace on the Pro plan (chat, chat_agent, chat_agent_train), with the
    gateway's catalog (llama3.2 on the fake Ollama)."""
    request.getfixturevalue("gateway")
    workspace = create_workspace(
        "Trainer", _user("t@train.test"), Plan.objects.get(code="chat_agent_train")
    )
    return issue_key(workspace, "train")


@pytest.fixture
def other_trainer_key(request):
    request.getfixturevalue("gateway")
    workspace = create_workspace(
        "Rival", _user("r@rival.test"), Plan.objects.get(code="chat_agent_train")
    )
    return issue_key(workspace, "rival")


class Api:
    """The fine-tuning API with one key, through the real WSGI handler (as the SDK clients of
    tests/proxy go), in the test's database transaction."""

    def __init__(self, key: Any) -> None:
        self.http, self.key = wsgi_http_client(), key

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key.secret}

    def get(self, path: str) -> Any:
        return self.http.get(f"{API}{path}", headers=self._headers())

    def post(self, path: str, body: Any = None) -> Any:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {**self._headers(), "Content-Type": "application/json"}
        return self.http.post(f"{API}{path}", content=data, headers=headers)

    def delete(self, path: str) -> Any:
        return self.http.delete(f"{API}{path}", headers=self._headers())

    def upload(self, name: str, data: bytes, **fields: str) -> Any:
        """A multipart/form-data upload of a .jsonl file to /datasets."""
        return self.http.post(
            f"{API}/datasets",
            files={"file": (name, data, "application/jsonl")},
            data=fields,
            headers=self._headers(),
        )

    def dataset(self, records: list | None = None) -> dict:
        response = self.post("/datasets", {"title": "Support", "records": records or CHAT_RECORDS})
        assert response.status_code == 201, response.content
        return response.json()

    def job(self, dataset_id: str | None = None, **fields: Any) -> dict:
        body = {"datasetId": dataset_id or self.dataset()["id"], "baseModel": "llama3.2", **fields}
        response = self.post("/jobs", body)
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def api(trainer_key) -> Api:
    return Api(trainer_key)


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {check}")


def job_state(job_id: str) -> str:
    return Job.objects.get(pk=job_id).state


@pytest.fixture(scope="session")
def celery_worker() -> Iterator[Any]:
    """A real Celery worker in this process (so that it shares the test database), on the
    session's broker, the one the web side sends to: Redis in CI, otherwise the embedded
    file-system broker in the session's own folder (tests/settings.py)."""
    app.conf.update(task_always_eager=False, worker_hijack_root_logger=False)
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=["default", "training"],
        shutdown_timeout=30,
    ) as worker:
        yield worker


class BlockingTrainer:
    """A trainer that works until it is told to stop (checks every 50 ms): the job plumbing's
    cancellation, with no race against a trainer that finishes first."""

    started = threading.Event()

    def train(self, job: Any, dataset: Any, log: Any, should_stop: Callable[[], bool]) -> dict:
        from finetune.trainers import Stopped

        log("Blocking trainer: working until stopped.")
        log.progress(10)
        BlockingTrainer.started.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if should_stop():
                raise Stopped
            time.sleep(0.05)
        return {"system": None, "messages": [], "parameters": {}}

"""POST/GET/DELETE /api/v1/finetune/datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.models import UsageRecord
from finetune.models import Dataset
from keys.services import issue_key

from .conftest import API, CHAT_RECORDS, Api


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_it_normalises_every_record_shape_to_chat_and_stores_jsonl(api: Api, settings) -> None:
    records = [
        CHAT_RECORDS[0],
        {"prompt": "Capital of France?", "completion": "Paris."},
        {"instruction": "Translate to French", "input": "cheese", "output": "fromage"},
        {"instruction": "Say hi", "output": "Hi!", "system": "Be cheerful."},
    ]
    response = api.post("/datasets", {"title": " Mixed ", "records": records})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["object"] == "finetune.dataset"
    assert body["title"] == "Mixed"
    assert body["records"] == 4
    assert body["estimatedTokens"] > 20
    [path] = stored_files(settings)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert body["bytes"] == path.stat().st_size
    assert lines[1] == {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    }
    assert lines[2]["messages"][0] == {"role": "user", "content": "Translate to French\n\ncheese"}
    assert lines[3]["messages"][0] == {"role": "system", "content": "Be cheerful."}


def test_it_accepts_jsonl_text_and_a_multipart_upload(api: Api) -> None:
    text = "\n".join(json.dumps(r) for r in CHAT_RECORDS) + "\n\n"
    as_text = api.post("/datasets", {"title": "Lines", "jsonl": text})
    upload = api.upload("support.jsonl", text.encode())

    assert as_text.status_code == 201, as_text.content
    assert upload.status_code == 201, upload.content
    assert as_text.json()["records"] == upload.json()["records"] == 5
    assert upload.json()["title"] == "support"
    assert as_text.json()["estimatedTokens"] == upload.json()["estimatedTokens"]


def test_it_lists_every_fault_with_its_line_and_stores_nothing(api: Api, settings) -> None:
    lines = [json.dumps(r) for r in CHAT_RECORDS] * 3  # lines 1-15 are sound
    lines.append(
        json.dumps(
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
        )
    )
    lines.append('{"prompt": "no completion"}')
    lines.append("{not json")
    response = api.post("/datasets", {"title": "Bad", "jsonl": "\n".join(lines)})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_dataset"
    assert error["details"] == [
        'line 16: messages[1].role: expected "assistant"',
        "line 17: completion: is required",
        "line 18: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]
    assert "3 fault(s)" in error["message"]
    assert Dataset.objects.count() == 0
    assert stored_files(settings) == []


def test_it_names_the_record_for_a_json_array(api: Api) -> None:
    response = api.post("/datasets", {"title": "Bad", "records": [CHAT_RECORDS[0], 7, {"x": 1}]})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "record 2: expected an object, got integer",
        'record 3: expected {"messages": [...]}, {"prompt", "completion"} or {"instruction", "output"}',
    ]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"records": []}, "title: expected a non-empty string, got null"),
        ({"title": "  ", "records": []}, "title: expected a non-empty string, got string"),
        ({"title": "x"}, "records: expected records (an array) or jsonl (a string)"),
        ({"title": "x", "records": [], "jsonl": ""}, "records: send either records or jsonl"),
        ({"title": "x", "records": {}}, "records: expected an array, got object"),
    ],
)
def test_it_refuses_a_malformed_request(api: Api, body, message) -> None:
    response = api.post("/datasets", body)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_it_refuses_too_many_records_before_parsing_them(api: Api, settings) -> None:
    settings.FINETUNE_DATASET_MAX_RECORDS = 3
    records = api.post("/datasets", {"title": "Big", "records": [{"junk": i} for i in range(4)]})
    lines = api.post("/datasets", {"title": "Big", "jsonl": "{}\n" * 4})

    for response in (records, lines):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "dataset_too_large"
        assert "more than 3 records" in response.json()["error"]["message"]
    assert Dataset.objects.count() == 0


def test_it_refuses_too_many_bytes_before_reading_them(api: Api, settings) -> None:
    settings.FINETUNE_DATASET_MAX_BYTES = 1000
    big = json.dumps(CHAT_RECORDS[0]) + "\n"
    as_json = api.post("/datasets", {"title": "Big", "jsonl": big * 100})
    upload = api.upload("big.jsonl", (big * 100).encode(), title="Big")
    small_body_long_text = api.post("/datasets", {"title": "Big", "jsonl": big * 6})

    for response in (as_json, upload, small_body_long_text):
        assert response.status_code == 413, response.content
        assert response.json()["error"]["code"] == "dataset_too_large"
    assert Dataset.objects.count() == 0


def test_it_refuses_other_media_types_and_an_upload_without_a_file(api: Api) -> None:
    headers = {"X-API-Key": api.key.secret}
    text = api.http.post(
        f"{API}/datasets", content=b"hello", headers={**headers, "Content-Type": "text/plain"}
    )
    no_file = api.http.post(
        f"{API}/datasets", files={"other": ("x.txt", b"x")}, data={"title": "x"}, headers=headers
    )

    assert text.status_code == 415
    assert no_file.status_code == 400
    assert "file" in no_file.json()["error"]["message"]


def test_it_charges_five_credits_for_a_stored_dataset_and_none_for_a_refused_one(api: Api) -> None:
    api.dataset()
    api.post("/datasets", {"title": "Bad", "records": [1]})

    stored, refused = UsageRecord.objects.filter(endpoint="dataset_create").order_by("started_at")
    assert (stored.status, stored.credits) == (201, 5)
    assert (refused.status, refused.credits) == (400, 0)
    assert stored.dialect == "api"


def test_it_lists_the_workspaces_datasets_only(api: Api, other_trainer_key) -> None:
    mine = api.dataset()
    Api(other_trainer_key).dataset()

    response = api.get("/datasets")
    limited = api.get("/datasets?limit=1")

    assert [d["id"] for d in response.json()["data"]] == [mine["id"]]
    assert response.json()["has_more"] is False
    assert limited.status_code == 200
    assert api.get("/datasets?limit=0").status_code == 400


def test_it_deletes_a_dataset_and_its_file(api: Api, settings) -> None:
    dataset = api.dataset()

    response = api.delete(f"/datasets/{dataset['id']}")

    assert response.status_code == 204
    assert Dataset.objects.count() == 0
    assert api.get(f"/datasets/{dataset['id']}").status_code == 404


def test_it_keeps_a_dataset_a_job_uses(api: Api) -> None:
    dataset = api.dataset()
    api.job(dataset["id"])

    response = api.delete(f"/datasets/{dataset['id']}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "dataset_in_use"
    assert Dataset.objects.count() == 1


def test_it_hides_another_workspaces_dataset(api: Api, other_trainer_key) -> None:
    theirs = Api(other_trainer_key).dataset()

    for response in (
        api.get(f"/datasets/{theirs['id']}"),
        api.delete(f"/datasets/{theirs['id']}"),
        api.get("/datasets/not-a-uuid"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "dataset_not_found"
    assert Dataset.objects.count() == 1


def test_it_needs_the_chat_agent_train_scope(key_a, gateway) -> None:
    response = Api(key_a).get("/datasets")  # the Builder plan: chat and chat_agent

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_it_honours_a_key_restricted_to_fewer_scopes(trainer_key) -> None:
    chat_only = issue_key(trainer_key.key.workspace, "chat only", scopes=["chat"])

    assert Api(chat_only).get("/datasets").status_code == 403


def test_it_splits_lines_at_newlines_only(api: Api) -> None:
    record = {"prompt": "Line\u2028separator and\u0085next line", "completion": "ok"}
    text = "\ufeff" + json.dumps(record, ensure_ascii=False) + "\r\n" + json.dumps(record) + "\r\n"

    response = api.post("/datasets", {"title": "Unicode", "jsonl": text})

    assert response.status_code == 201, response.content
    assert response.json()["records"] == 2


@pytest.mark.parametrize(
    "line", ["[" * 100_000 + "]" * 100_000, '{"prompt": "x", "completion": ' + "9" * 5000 + "}"]
)
def test_it_reports_json_too_deep_or_too_large_as_a_fault(api: Api, line) -> None:
    response = api.post(
        "/datasets", {"title": "Odd", "jsonl": f"{json.dumps(CHAT_RECORDS[0])}\n{line}"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "line 2: not valid JSON (too deeply nested or too large)"
    ]


def test_it_refuses_a_malformed_multipart_body(api: Api) -> None:
    headers = {"X-API-Key": api.key.secret, "Content-Type": "multipart/form-data; boundary="}

    response = api.http.post(f"{API}/datasets", content=b"--x\r\n", headers=headers)

    assert response.status_code == 400
    assert "multipart" in response.json()["error"]["message"]


def test_it_refuses_a_limit_that_is_not_a_plain_number(api: Api) -> None:
    assert api.get("/datasets?limit=\u00b2").status_code == 400


@pytest.mark.parametrize("title", ["a\u0000b", "x\ud800"])
def test_it_refuses_a_title_with_nul_or_a_lone_surrogate_with_a_400_naming_it(
    api: Api, title: str
) -> None:
    response = api.post("/datasets", {"title": title, "records": CHAT_RECORDS})
    upload = api.upload("support.jsonl", b"{}", title=title.replace("\ud800", ""))

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "title"
    if "\u0000" in title:
        assert upload.status_code == 400, upload.content
        assert upload.json()["error"]["param"] == "title"
    assert not Dataset.objects.exists()

from __future__ import annotations

import json

from django.conf import settings
from openapi_spec_validator import validate


def test_it_serves_a_valid_openapi_document_without_a_key(client, db) -> None:
    for url in ("/api/v1/schema", "/documentation/openapi.json"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("application/vnd.oai.openapi+json") or response[
            "Content-Type"
        ].startswith("application/json")
        document = response.json()
        validate(document)
    paths = document["paths"]
    for path in (
        "/v1/chat/completions",
        "/api/v1/chat/completions",
        "/api/v1/chat",
        "/api/v1/chat/stream",
        "/api/v1/generate",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/api/v1/models",
        "/v1/models/{model_id}",
        "/api/v1/health",
        "/api/v1/key",
        "/api/v1/usage",
        "/api/v1/usage.csv",
        "/api/v1/quota",
        "/api/v1/billing/redeem",
        "/api/v1/local/connection",
        "/api/v1/finetune/datasets",
        "/api/v1/finetune/datasets/{dataset_id}",
        "/api/v1/finetune/jobs",
        "/api/v1/finetune/jobs/{job_id}",
        "/api/v1/finetune/jobs/{job_id}/start",
        "/api/v1/finetune/jobs/{job_id}/cancel",
        "/api/v1/finetune/jobs/{job_id}/log",
        "/api/v1/finetune/jobs/{job_id}/register",
        "/api/tags",
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/api/show",
        "/api/ps",
        "/api/version",
        "/",
    ):
        assert path in paths, path
    for path, method in [
        ("/v1/chat/completions", "post"),
        ("/v1/messages", "post"),
        ("/api/v1/generate", "post"),
        ("/api/v1/finetune/jobs", "post"),
        ("/api/v1/finetune/jobs/{job_id}/register", "post"),
        ("/api/chat", "post"),
        ("/api/generate", "post"),
        ("/api/embed", "post"),
        ("/api/show", "post"),
    ]:  # every body a client sends is described
        assert "application/json" in paths[path][method]["requestBody"]["content"], path
    upload = paths["/api/v1/finetune/datasets"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(upload)
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["BearerAuth"]["description"],
    }
    assert schemes["ApiKeyAuth"]["name"] == "X-API-Key"
    assert paths["/v1/chat/completions"]["post"]["security"] == [
        {"BearerAuth": []},
        {"ApiKeyAuth": []},
    ]
    assert "404" in paths["/v1/chat/completions"]["post"]["responses"]
    assert paths["/api/v1/health"]["get"].get("security") in (None, [], [{}])  # no key


def test_it_serves_swagger_ui_and_redoc_offline(client, db) -> None:
    for url in ("/api/v1/docs", "/documentation/swagger", "/api/v1/redoc"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "cdn." not in html and "jsdelivr" not in html  # assets come from our static files


PUBLIC_OPERATIONS = {("/api/v1/health", "get"), ("/healthz", "get")}


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def has_example(media: dict) -> bool:
    return bool(media.get("examples")) or "example" in media


def test_it_gives_every_body_and_every_answer_an_example(client, db) -> None:
    """Postman's import and Swagger's "Try it out" fill in these examples; proxy.schema's
    body/ok/error_responses make them. A multipart upload (a file) has none."""
    document = client.get("/api/v1/schema").json()
    validate(document)
    missing = []
    for path, method, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type != "multipart/form-data" and not has_example(media):
                missing.append(f"{method.upper()} {path}: request {media_type}")
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if (status.startswith("2") or media_type == "application/json") and not (
                    has_example(media)
                ):
                    missing.append(f"{method.upper()} {path}: {status} {media_type}")
    assert not missing, "no example:\n" + "\n".join(missing)


def test_it_shows_each_error_in_its_endpoints_shape(client, db) -> None:
    document = client.get("/api/v1/schema").json()
    for path, method, operation in operations(document):
        anthropic = path.endswith(("/messages", "/messages/count_tokens"))
        # The model list answers in Anthropic's shape too, for a client sending anthropic-version
        either = "/models" in path and path.startswith(("/v1/", "/api/v1/"))
        ollama = path == "/" or (path.startswith("/api/") and not path.startswith("/api/v1/"))
        for status, response in operation["responses"].items():
            if status < "400" or (path, method) in PUBLIC_OPERATIONS:
                continue
            for name, example in (
                response["content"]["application/json"].get("examples", {}).items()
            ):
                value = example["value"]
                if ollama:  # Ollama's own shape: {"error": "..."}
                    assert set(value) == {"error"}, (path, status, name)
                    assert isinstance(value["error"], str), (path, status, name)
                elif anthropic or (either and "anthropic-version" in name):
                    assert value["type"] == "error", (path, status, name)
                    assert set(value["error"]) == {"type", "message"}, (path, status, name)
                else:
                    assert {"message", "type", "param", "code"} <= set(value["error"]), (path, name)


def test_it_documents_the_errors_the_gateway_really_answers(client, db) -> None:
    document = client.get("/api/v1/schema").json()
    body = json.dumps({"model": "llama3.2", "max_tokens": 8, "messages": []})
    for path in ("/v1/chat/completions", "/v1/messages", "/api/chat"):
        answer = client.post(path, data=body, content_type="application/json")
        examples = document["paths"][path]["post"]["responses"]["401"]["content"][
            "application/json"
        ]["examples"]
        assert answer.status_code == 401
        assert answer.json() == examples["InvalidApiKey"]["value"], path


def test_it_asks_for_a_key_on_every_operation_but_the_public_ones(client, db) -> None:
    document = client.get("/api/v1/schema").json()
    assert document["servers"] == [{"url": settings.PUBLIC_BASE_URL}]
    for path, method, operation in operations(document):
        if (path, method) in PUBLIC_OPERATIONS:
            assert operation.get("security") in (None, [], [{}]), path
        else:
            assert operation["security"] == [{"BearerAuth": []}, {"ApiKeyAuth": []}], path

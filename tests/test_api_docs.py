from __future__ import annotations

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
    ):
        assert path in paths, path
    for path, method in [
        ("/v1/chat/completions", "post"),
        ("/v1/messages", "post"),
        ("/api/v1/generate", "post"),
        ("/api/v1/finetune/jobs", "post"),
        ("/api/v1/finetune/jobs/{job_id}/register", "post"),
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
